"""ParameterTensor: the leaf over a manualnet Parameter, where the recorded graph and the manual chain meet."""

from manualnet.nn.parameter import Parameter

from .tensor import Tensor


class ParameterTensor(Tensor):
    """A leaf Tensor that IS a manualnet Parameter: ``.data`` is ``p.data``, backward adds into ``p.grad``.

    This is how the recorded graph and the manual chain share weights: build
    tensors over a model's Parameters, run the forward with autograd
    operations, call ``loss.backward()``, and ``mn.optim`` steps the same
    Parameters as it would after ``model.backward(...)``.  ``.grad`` is a
    Tensor over ``p.grad`` (never None: a Parameter's gradient is an array of
    zeros until backward adds to it), so ``optimizer.zero_grad()`` clears it.
    """

    def __init__(self, parameter):
        if not isinstance(parameter, Parameter):
            raise TypeError(f"ParameterTensor: expected a manualnet Parameter, got {type(parameter).__name__}")
        self.parameter = parameter
        self._init(None, requires_grad=True, grad_fn=None)

    @property
    def data(self):
        return self.parameter.data

    @data.setter
    def data(self, value):
        if value is not None:                          # _init's placeholder; the Parameter owns the array
            raise AttributeError("ParameterTensor.data is its Parameter's array: change parameter.data in place")

    @property
    def _version(self):
        return self.parameter._version                 # an assignment to parameter.data counts too

    @property
    def grad(self):
        return Tensor._wrap(self.parameter.grad)

    @grad.setter
    def grad(self, value):
        if value is not None:
            raise TypeError("ParameterTensor.grad is its Parameter's .grad; set it to None to zero it")
        self.parameter.zero_grad()

    def accumulate_grad(self, grad):
        self.parameter.grad += grad                    # eq. (33): the Parameter's .grad, in place
