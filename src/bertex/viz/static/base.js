"use strict";
// Shared by every view: the data inlined by bertex, and one palette.
const D = JSON.parse(document.getElementById("data").textContent);
const COLORS = ["#1e88e5","#d81b60","#43a047","#fb8c00","#8e24aa","#00897b","#e53935","#3949ab",
  "#7cb342","#f4511e","#5e35b1","#00acc1","#6d4c41","#c0ca33","#546e7a","#ffb300"];
