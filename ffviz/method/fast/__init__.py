"""Speed tricks, each in its own module and each tested equal to the plain form it replaces (tests/test_fast.py).

The method reads without them (ffviz/method/model/layer.py, ffviz/method/losses.py); these make it fast:
- activation: ReLU, dropout and goodness pooling in one op with a hand-written backward;
- dropout: dropout masks from 16 random bits per activation on the CPU;
- norm: instance norm without autograd's bookkeeping;  pool: 2x2 average pooling by strided adds;
- layout: channels-last convolutions on the CPU;  clip: per-layer gradient clipping with one norm call;
- consts: small per-step tensors made on the device once;  graph: the whole step captured once as a CUDA graph;
- kernels: on the CPU, a layer's ReLU, dropout, pooling and instance norm as compiled kernels (torch.compile), with
  bf16 convolutions where the CPU has bf16 arithmetic (tests/test_kernels.py).
The DDP wrapper of the fused step is ffviz.method.distributed.wrap_ddp.
"""
