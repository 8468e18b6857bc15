"""The study notes' 003 autograd example: z from x, a and b, recorded and walked back.

    python examples/autograd_basics.py              # and the notes' PyTorch code, if torch is installed
    python examples/autograd_basics.py --torch no

The notes (003, "torch.Tensor") describe PyTorch's autograd with a picture:
tensors x, a, b with requires_grad=True, y = a·x + b, z = x·y; z.grad_fn
records how z was made, and z.backward() fills x.grad, a.grad and b.grad.
Here is the same program with manualnet.autograd, whose tensors print what
PyTorch's print (x.grad = tensor(13.), a.grad = tensor(4.), b.grad =
tensor(2.)); with PyTorch installed it runs the notes' code as well.
derivations/autograd.md works the example through by hand and by the engine.
"""

import argparse

from manualnet.autograd import Tensor, graph


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--torch", choices=("auto", "no"), default="auto",
                        help="also run the notes' PyTorch code when torch is installed (default), or not")
    args = parser.parse_args(argv)
    x = Tensor(2.0, requires_grad=True)
    a = Tensor(3.0, requires_grad=True)
    b = Tensor(1.0, requires_grad=True)
    y = a * x + b
    z = x * y
    print("y =", y)
    print("z =", z)
    print("z.grad_fn =", z.grad_fn, "with next_functions", z.grad_fn.next_functions)
    z.backward()
    print("x.grad =", x.grad)        # dz/dx = y + x·a = 13: x is used twice, the two paths add
    print("a.grad =", a.grad)        # dz/da = x·x = 4
    print("b.grad =", b.grad)        # dz/db = x = 2
    print("the graph z.backward() walked:")
    print(graph(z, params={"x": x, "a": a, "b": b}))
    if args.torch == "no":
        return
    try:
        import torch
    except ImportError:
        print("(PyTorch is not installed: pip install torch==2.13.0 to run the notes' code too)")
        return
    x, a, b = (torch.tensor(value, requires_grad=True) for value in (2.0, 3.0, 1.0))
    z = x * (a * x + b)
    z.backward()
    print("PyTorch: x.grad =", x.grad, " a.grad =", a.grad, " b.grad =", b.grad)


if __name__ == "__main__":
    main()
