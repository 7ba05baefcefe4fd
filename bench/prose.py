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
  of the dense layers where the CPU has fast int8 dot products. On AVX2 without VNNI each int8
  multiply-add takes three instructions (vpmaddubsw, vpmaddwd, vpaddd), so int8 gains ~1.5x
  over onnx fp32 on MiniLM here (~2x on BERT-base, whose larger matrices amortize the
  quantization of activations) against ~2.3x on the issue's AVX-512 VNNI machine. That is
  what stands between this run and 3x sentence-transformers / 6x the tutorial loop on MiniLM.
- **bf16** needs avx512_bf16 or amx_bf16; this CPU has neither, so bertex warns and runs fp32
  (the bf16 row is fp32). On the issue's Zen 4 machine autocast gave ~1.8x fp32.
- **Tokenization** is ~4% of a run (Rust tokenizer plus bertex's window planning); past 4,096
  inputs it runs in a background thread while the model computes. On 2 cores a third thread
  competes with the two compute threads, so smaller chunks measured 5-25% slower."""
