"""The fixed prose of BENCHMARKS.md (bench/run_all.py fills the measured tables around it)."""

PEERS_READING = """How each peer is run, and what its code says about where its speed comes from
(each in its own environment, mean pooling, unit length, truncation at 256, batches of 32
sorted by length inside the timed region; details in bench/peers/*.py):

- **CTranslate2** (`ctranslate2==4.8.5`; converted once by its own converter, quantized at
  load): two workers of one thread each, batches submitted concurrently (its "data
  parallelism"; faster than OpenMP threads in both tries). Its int8 Dense layers quantize the
  weights per output row and the activations per token on the fly (src/ops/quantize_cpu.cc),
  with oneDNN's s8 GEMM (VNNI where the CPU has it) on AMD CPUs: per-token scales keep more
  quality than one scale per tensor. No bf16 on CPU (CUDA only in CTranslate2).
- **OpenVINO** (`openvino==2026.4.1`, `nncf==3.4.0`): THROUGHPUT hint with an AsyncInferQueue
  (the cores split into streams), on a plain ONNX export. fp32 is asked for explicitly (it
  runs bf16 by default on avx512_bf16 CPUs). int8 is NNCF's static post-training quantization
  (SmoothQuant, bias correction), calibrated on 300 texts that are not the benchmark's: the
  fastest rows, but static activation scales miss on text unlike the calibration set (its min
  cosine on STS-B is below the 0.97 gate).
- **fastembed** (`fastembed==0.9.1`): the ONNX export registered as a custom model, one
  onnxruntime session on all cores; it has no quantizer of its own (its int8 models are files
  from the hub), so no int8 row.
- **bertex**: `onnx int8` is onnxruntime's dynamic quantization (one activation scale per
  tensor per batch), `torch bf16` autocast, and the `openvino` backend compiles bertex's own
  checked ONNX export (fp32, or bf16 where the CPU has it)."""

GPU_MEASURED = """`make bench` runs on the CPU machine; a GPU is lent to some sessions only, so this
table is not from this run. It is from `python bench/gpu.py --n 30000 --reps 3` on one NVIDIA
H200 (16 Xeon cores, torch 2.11.0+cu130, sentence-transformers 6.0.1), 2026-11-26, on a
checkpoint with all-MiniLM-L6-v2's configuration and tokenizer and seeded random weights (the
GPU machine's upload limit, 64 MiB, is below the real weights' 88 MB; speed does not depend on
the values of the weights). Generated sentences (8-190 tokens), mean pooling, unit length,
median of 3 runs after a warm-up.

Correctness on the GPU, same script: bertex on CUDA against transformers on CUDA (token
level, 256 texts) max |diff| 2.4e-6; against bertex on the CPU 2.9e-6; a text alone against
the same text in a batch 1.9e-6; fp16 autocast against fp32 cosine min 0.9999999, bf16
0.9999986. tests/test_device.py (9 tests, cpu and cuda) passed there.

| path | sentences/s | cosine to bertex fp32 (min) | peak GPU MiB |
|---|---:|---:|---:|
| bertex torch fp32 (max_batch_size 256, batch_tokens 32768) | 5,517 | 1.0 | 1,462 |
| bertex torch fp16 (same batches) | 4,918 | 1.0 | 1,236 |
| bertex torch bf16 (same batches) | 4,941 | 1.0 | 1,302 |
| bertex torch fp32 (max_batch_size 1024, batch_tokens 131072) | 5,552 | 1.0 | 3,515 |
| bertex torch fp32, one batch at a time (BERTEX_WORKERS=1) | 5,320 | 1.0 | 1,400 |
| sentence-transformers fp32 (batch_size 128) | 8,357 | 1.0 | 1,229 |
| sentence-transformers fp32 (batch_size 512) | 10,632 | 1.0 | 2,319 |
| sentence-transformers fp16, model.half() (batch_size 128) | 8,954 | 0.99964 | 1,050 |
| sentence-transformers fp16, model.half() (batch_size 512) | 11,108 | 0.99964 | 1,601 |

Reading: **on this GPU bertex is 0.52x sentence-transformers** (5,552 against 10,632
sentences/s at their best settings). The GPU is not the limit: precision and batch size barely
move bertex (fp16 and bf16 are no faster than fp32), so the host is: about 180 us per input
whatever the GPU does. bertex does per-input Python work that sentence-transformers does not
(character offsets, window plans, per-input reports, loss accounting), under one GIL shared
by the tokenizer thread, the forward threads and the pooling.
Two batches in flight (the GPU default now) gave +4% over one at a time. The next step, not
taken: plan and pool the one-window inputs of a batch as arrays rather than one by one.
Across runs on the same machine sentence-transformers' figure moved between 10.6k and 12.7k
sentences/s, bertex's between 5.4k and 5.6k."""


READING = """How each peer is run, and what its code says about where its speed comes from
(each in its own environment, mean pooling, unit length, truncation at 256, batches of 32
sorted by length inside the timed region; details in bench/peers/*.py):

- **CTranslate2** (`ctranslate2==4.8.5`; converted once by its own converter, quantized at
  load): two workers of one thread each, batches submitted concurrently (its "data
  parallelism"; faster than OpenMP threads in both tries). Its int8 Dense layers quantize the
  weights per output row and the activations per token on the fly (src/ops/quantize_cpu.cc),
  with oneDNN's s8 GEMM (VNNI where the CPU has it) on AMD CPUs: per-token scales keep more
  quality than one scale per tensor. No bf16 on CPU (CUDA only in CTranslate2).
- **OpenVINO** (`openvino==2026.4.1`, `nncf==3.4.0`): THROUGHPUT hint with an AsyncInferQueue
  (the cores split into streams), on a plain ONNX export. fp32 is asked for explicitly (it
  runs bf16 by default on avx512_bf16 CPUs). int8 is NNCF's static post-training quantization
  (SmoothQuant, bias correction), calibrated on 300 texts that are not the benchmark's: the
  fastest rows, but static activation scales miss on text unlike the calibration set (its min
  cosine on STS-B is below the 0.97 gate).
- **fastembed** (`fastembed==0.9.1`): the ONNX export registered as a custom model, one
  onnxruntime session on all cores; it has no quantizer of its own (its int8 models are files
  from the hub), so no int8 row.
- **bertex**: `onnx int8` is onnxruntime's dynamic quantization (one activation scale per
  tensor per batch), `torch bf16` autocast, and the `openvino` backend compiles bertex's own
  checked ONNX export (fp32, or bf16 where the CPU has it)."""

GPU_PLAN = """No GPU was lent to the session that wrote this run (the `device` tool's `status`
said "not drawn"), so the CUDA tables are a plan, not a measurement. What bertex's GPU path
does today (src/bertex/backends/precision.py, torch backend): `bertex.load(...,
device="cuda")` moves the model once; `precision="fp16"` or `"bf16"` (checked against
`torch.cuda.is_bf16_supported()`) runs the forward under autocast, pooling and normalization
stay fp32; int8 is CPU-only and refused on CUDA with the valid options named. Batches are
token-budgeted (`--batch-tokens`, padded tokens per batch): on a GPU the budget is the memory
knob, 16k-64k tokens for MiniLM on a 24 GB card, where the CPU's best was 2,048.

To measure (one GPU machine, one script, about 5 minutes):

    make install && .venv/bin/pip install -c constraints.txt onnxruntime-gpu
    python bench/speed.py --n 20000 --paths "sentence-transformers encode,bertex torch fp32"
    BERTEX_DEVICE=cuda python bench/speed.py --n 20000 --reps 3 \\
        --paths "bertex torch fp32,bertex torch fp16,bertex torch bf16"

against sentence-transformers with `model.half()` (its fp16 path) and the ONNX Runtime CUDA
execution provider on the plain export (bench/peers/onnx_export.py). Expected from the
arithmetic (MiniLM is ~22M parameters, tiny for a GPU): the GPU is bound by launch overhead
and the tokenizer below ~64 sequences per batch, so the token budget, not the precision,
decides throughput; fp16/bf16 halve memory traffic and should give ~1.5-2x fp32 on large
batches."""

READING = """Where the time goes (measured while building this; `bertex embed --profile` shows it
for any run):

- **Padding.** The tutorial loop batches in corpus order and pads every batch to its longest
  text; on the generated corpus most of what it computes is padding. Every other path sorts
  by length. bertex's batches hold at most 2,048 padded tokens and 32 texts (measured fastest
  on this CPU; 16,384-token batches ran at about half the speed).
- **How close to the machine.** "of fp32 peak" divides the useful FLOPs (dense layers and
  attention over real tokens only) by a 2048x2048 fp32 matmul on all cores, measured in the same
  run (it moves between ~90 and ~150 GFLOP/s on this shared VM, so the column is noisy).
  sentence-transformers reaches 50-80% of it; bertex torch fp32 77-97%, onnx fp32 77-107%
  (the fused graph does fewer, larger memory passes than the FLOP count assumes). What remains
  is the gap between small-batch GEMMs and the big one, plus LayerNorm, GELU and softmax.
- **bertex torch fp32** is the exact path (bit-identical vectors across batch sizes and worker
  counts). It runs two batches at once on one thread each: between the small matrix products
  of a sentence batch a shared 2-thread pool idles (+13% measured).
- **onnx fp32** adds fusion: TorchScript export on eager attention, so onnxruntime's optimizer
  fuses each layer's attention into one `Attention` op, bias+GELU and residual+LayerNorm into
  one op each, and the embeddings into `EmbedLayerNormalization`; the graph is checked against
  torch before it is kept. On long documents (512-token windows) the fused Attention op on one
  thread per worker is slower than torch's SDPA: there torch fp32 is the faster exact path.
- **int8** (onnxruntime dynamic quantization, per-channel weights, QAttention) halves the cost
  of the dense layers where the CPU has fast int8 dot products (the flags printed above say
  which): with AVX-512 VNNI one instruction per int8 multiply-add, on AVX2 without VNNI three
  (vpmaddubsw, vpmaddwd, vpaddd), where int8 measured only ~1.5x onnx fp32 on MiniLM (~2x on
  BERT-base, whose larger matrices amortize the quantization of activations).
- **bf16** needs avx512_bf16 or amx_bf16 (see the flags above); without them bertex warns and
  runs fp32, so the bf16 row is then fp32. With them (Zen 4) autocast measured 1.7x fp32.
- **Tokenization** is ~4% of a run (Rust tokenizer plus bertex's window planning); past 4,096
  inputs it runs in a background thread while the model computes. On 2 cores a third thread
  competes with the two compute threads, so smaller chunks measured 5-25% slower."""


# measured once each (the commits named), not by make bench: the history of the search stores
SEARCH_HISTORY = (
    "The PostgreSQL store before and after it stopped counting its table per search"
    " (kept counts\n"
    "in `<table>_meta`), fetched results in binary, set a query's settings in one"
    " statement, and\n"
    "built the graph after a bulk load (`python bench/search_bench.py ann --n 100000"
    " --stores\n"
    "postgres` on commit f16e603, then on this one, back to back on the same machine"
    " and cache):\n"
    "\n"
    "| code | recall@10 | p50 | p99 | one Index.add of 100,000 | 256-row adds |\n"
    "|---|---|---|---|---|---|\n"
    "| count(*) of the table per search, vectors parsed from text, graph grown row"
    " by row (before) | 0.9895 | 24.06 ms | 71.07 ms | 410 vectors/s | 363 vectors/s |\n"
    "| kept counts, binary results, graph built after the load (now) | 0.9901 | 7.58"
    " ms | 11.25 ms | 3,249 vectors/s | 413 vectors/s |\n"
    "\n"
    "A 100k-row `count(*)` alone took 33-45 ms when its pages were not cached (the"
    " earlier runs'\n"
    "18-55 ms p50); what is left is pgvector's HNSW walk (ef_search 128) and the"
    " rows' transfer.\n"
    "256-row adds joined the graph row by row, as pgvector inserts do (413 vectors/s"
    " above). Now\n"
    "`bertex index build` defers the graph to its close and builds it once over"
    " every row (the\n"
    "bench's adds do as the CLI does): the same run again on commit 2f44a34 gave"
    " 2,547 vectors/s\n"
    "for 100,000 in 256-row adds + close (6.2x), 2,766 for one add, recall@10"
    " 0.9896, p50 9.995 ms,\n"
    "p99 17.265 ms (the search code is the same as above: p50 moves 7.6-10.0 ms"
    " between runs here).\n"
    "\n"
    "A build the way `bertex index build` commits (256-row adds, then `close()`),"
    " before and after\n"
    "the embedded index became segments: `python bench/search_bench.py ann --n"
    " 100000 --vectors\n"
    "synthetic --stores embedded`, the same machine, run back to back (2,000 seeded"
    " clusters of\n"
    "width 384; the build rate does not depend on what the vectors mean):\n"
    "\n"
    "| code | one Index.add of 100,000 | 100,000 in 256-row adds + close | recall@10"
    " | p50 |\n"
    "|---|---|---|---|---|\n"
    "| one Parquet file + graph rewritten per add (before) | 4,020 vectors/s | 531"
    " vectors/s (188 s) | 0.9855 | 0.81 ms |\n"
    "| segments merged as a binary counter, graph saved in bulk (now) | 3,697"
    " vectors/s | 2,706 vectors/s (37 s) | 0.9823 | 1.14 ms |\n"
    "\n"
    "Rewriting everything per add made a build quadratic (each of the 391 adds wrote"
    " up to 150 MB);\n"
    "now each row is written O(log N) times and joins the graph in bulk, so the gap"
    " grows with N.\n"
    "The embedded store's p50 moves within this shared VM's noise between runs"
    " (0.73-1.27 ms\n"
    "measured, about 0.1 ms of it Python per query).\n"
)
