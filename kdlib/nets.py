"""Wide ReLU networks in the NTK parameterization of Eq. 1 (Sec. 2 and S4 of the paper).

Every weight and bias is drawn from N(0, 1); the layer sizes enter only as the explicit
factors σ_W/√fan_in, so each parameter moves by O(1/√m) in training and a wide network
stays close to its linearization (Jacot et al., 2018; Lee et al., 2019).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from kdlib.logits import effective_logits
from kdlib.losses import kd_loss
from kdlib.train import TensorBatches, fit

__all__ = ["NTKMLP", "LinearizedModel", "TrainingHistory", "linearize", "train_kd"]


class NTKMLP(nn.Module):
    """Fully connected ReLU network of Eq. 1 with a scalar output logit.

        h¹ = σ_W W⁰ x / √d + σ_b b⁰,   h^{l+1} = σ_W W^l g(h^l) / √m + σ_b b^l,
        f(x; w) = σ_W W^L g(h^L) / √m + σ_b b^L,

    with ``depth`` = L hidden layers of ``width`` = m units, g = ReLU and W, b ~ N(0, 1).

    Args:
        d: input dimension.
        depth: number of hidden layers L ≥ 1.
        width: hidden width m ≥ 1.
        sigma_w, sigma_b: σ_W > 0 and σ_b ≥ 0 (the paper uses 1.0 and 1.0).
        generator: CPU generator for the initialization (repeatable runs); None uses torch's global one.
        dtype, device: of the parameters.
    Forward:
        ``x`` of shape (n, d) → logits of shape (n,).
    """

    def __init__(
        self,
        d: int,
        depth: int,
        width: int,
        sigma_w: float = 1.0,
        sigma_b: float = 1.0,
        *,
        generator: torch.Generator | None = None,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        for name, value, low in (("d", d, 1), ("depth", depth, 1), ("width", width, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an integer ≥ {low}, got {value!r}")
        if not sigma_w > 0:
            raise ValueError(f"sigma_w must be > 0, got {sigma_w!r}")
        if not sigma_b >= 0:
            raise ValueError(f"sigma_b must be ≥ 0, got {sigma_b!r}")
        self.d, self.depth, self.width = d, depth, width
        self.sigma_w, self.sigma_b = float(sigma_w), float(sigma_b)
        fan_ins = [d] + [width] * depth
        fan_outs = [width] * depth + [1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(fan_ins, fan_outs, strict=True):
            weight = torch.randn(fan_out, fan_in, generator=generator, dtype=torch.float64)
            bias = torch.randn(fan_out, generator=generator, dtype=torch.float64)
            self.weights.append(nn.Parameter(weight.to(dtype=dtype, device=device)))
            self.biases.append(nn.Parameter(bias.to(dtype=dtype, device=device)))
        self.scales = [self.sigma_w / math.sqrt(fan_in) for fan_in in fan_ins]

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.d:
            raise ValueError(f"x must have shape (n, {self.d}), got {tuple(x.shape)}")
        h = x
        last = len(self.weights) - 1
        for layer, (weight, bias, scale) in enumerate(zip(self.weights, self.biases, self.scales, strict=True)):
            h = scale * (h @ weight.T) + self.sigma_b * bias
            if layer < last:
                h = torch.relu(h)
        return h[:, 0]


# ---------------------------------------------------------------------------------------------
# The linearized student and its training on the distillation loss (Sec. 2, S1, S4)
# ---------------------------------------------------------------------------------------------


class LinearizedModel(nn.Module):
    """f_lin(x) = f(x; w₀) + Δwᵀ ∂_w f(x; w₀): the first-order Taylor model of a network (Sec. 2).

    The initial weights w₀ are a frozen copy (buffers); the only trainable parameters are the
    weight changes Δw, one tensor per parameter of the network, initialised at zero, so training
    this module is training the linear model of the random features φ(x) = ∂_w f(x; w₀). The
    forward pass is one forward-mode product ``torch.func.jvp`` (the paper used
    ``torch.autograd.functional.jvp``, Sec. S4): it costs about two forward passes and never
    forms the n × P Jacobian. Backpropagation through it gives ∂f_lin/∂Δw = φ(x) exactly.

    Build it with :func:`linearize`.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.network = [model]  # a list keeps the network out of this module's parameters
        self.names = [name for name, _ in model.named_parameters()]
        self.buffer_names = [name.replace(".", "__") for name in self.names]
        self.delta_names = list(self.buffer_names)
        for name, buffer_name in zip(self.names, self.buffer_names, strict=True):
            initial = model.get_parameter(name).detach().clone()
            self.register_buffer(f"w0__{buffer_name}", initial)
            self.register_parameter(f"delta__{buffer_name}", nn.Parameter(torch.zeros_like(initial)))

    def initial_weights(self) -> dict[str, Tensor]:
        """w₀ as a dict name → tensor, in the network's parameter order."""
        return {name: getattr(self, f"w0__{key}") for name, key in zip(self.names, self.buffer_names, strict=True)}

    def weight_change(self) -> dict[str, Tensor]:
        """Δw as a dict name → tensor (trainable parameters of this module)."""
        return {name: getattr(self, f"delta__{key}") for name, key in zip(self.names, self.buffer_names, strict=True)}

    def flat_weight_change(self) -> Tensor:
        """Δw as one flat vector (detached), in the network's parameter order."""
        return torch.cat([delta.detach().reshape(-1) for delta in self.weight_change().values()])

    def set_weight_change(self, flat: Tensor) -> None:
        """Set Δw from one flat vector in the network's parameter order (e.g. Eq. 4's Δŵ)."""
        deltas = list(self.weight_change().values())
        total = sum(delta.numel() for delta in deltas)
        if flat.shape != (total,):
            raise ValueError(f"flat must have shape ({total},), got {tuple(flat.shape)}")
        with torch.no_grad():
            for delta, chunk in zip(deltas, torch.split(flat, [d.numel() for d in deltas]), strict=True):
                delta.copy_(chunk.reshape(delta.shape))

    def _network_call(self, x: Tensor):
        network = self.network[0]
        return lambda weights: torch.func.functional_call(network, weights, (x,))

    def initial_output(self, x: Tensor) -> Tensor:
        """f(x; w₀), the network at initialization."""
        with torch.no_grad():
            return self._network_call(x)(self.initial_weights())

    def features_times(self, x: Tensor, coefficients: Tensor) -> Tensor:
        """φ(X) c = Σ_i c_i ∂_w f(x_i; w₀) as one flat vector (a vector-Jacobian product).

        With c = Θ̂_n⁻¹Δz this is the converged weight change Δŵ of Eq. 4, computed without
        the n × P Jacobian.
        """
        if coefficients.shape != (x.shape[0],):
            raise ValueError(f"coefficients must have shape ({x.shape[0]},), got {tuple(coefficients.shape)}")
        _, pullback = torch.func.vjp(self._network_call(x), self.initial_weights())
        (cotangent,) = pullback(coefficients.to(dtype=x.dtype, device=x.device))
        return torch.cat([cotangent[name].reshape(-1) for name in self.names])

    def forward(self, x: Tensor) -> Tensor:
        output, tangent = torch.func.jvp(self._network_call(x), (self.initial_weights(),), (self.weight_change(),))
        return output + tangent


def linearize(model: nn.Module) -> LinearizedModel:
    """The linearization f_lin(x) = f(x; w₀) + Δwᵀ∂_w f(x; w₀) of ``model`` at its current weights.

    Wide networks in the NTK parameterization train like this model (Jacot et al., 2018; Lee et
    al., 2019); the paper's students are such linearized networks (Sec. 2, S4). The returned
    module starts at Δw = 0, so it reproduces ``model`` exactly at initialization; ``model``
    itself is not modified and is not trained.

    Args:
        model: any ``nn.Module`` with at least one parameter; its forward maps x to logits.
    Returns:
        :class:`LinearizedModel` whose trainable parameters are the weight changes Δw.
    """
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if not any(True for _ in model.parameters()):
        raise ValueError("model has no parameters to linearize")
    return LinearizedModel(model)


@dataclass
class TrainingHistory:
    """What :func:`train_kd` recorded every ``record_every`` steps (and at step 0 and the last step).

    Attributes:
        steps: optimizer steps taken at each record.
        epochs: passes over the training set at each record (steps × batch size / N).
        loss: full-batch loss of Eq. 2 on the training set.
        logit_gap: max_n |z_s(x_n) − z_eff,n|, the distance to Eq. 3's effective logits.
        weight_norm: ‖Δw‖₂ = ‖w − w₀‖₂ over all parameters.
        weight_gap: ‖Δw − reference‖₂ when a reference weight change was given (else empty).
        logits: the training logits z_s (float64, CPU) at each record when ``keep_logits`` (else empty).
    """

    steps: list[int] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    logit_gap: list[float] = field(default_factory=list)
    weight_norm: list[float] = field(default_factory=list)
    weight_gap: list[float] = field(default_factory=list)
    logits: list[Tensor] = field(default_factory=list)

    def as_tensors(self) -> dict[str, Tensor]:
        """Every recorded series as a float64 tensor."""
        return {name: torch.tensor(getattr(self, name), dtype=torch.float64)
                for name in ("steps", "epochs", "loss", "logit_gap", "weight_norm", "weight_gap")}


def train_kd(
    model: nn.Module,
    x: Tensor,
    z_t: Tensor,
    y_g: Tensor,
    *,
    rho: float,
    T: float,
    steps: int,
    lr: float,
    batch_size: int | None = None,
    optimizer: str = "adam",
    betas: tuple[float, float] = (0.9, 0.999),
    record_every: int = 10,
    weight_reference: Tensor | None = None,
    keep_logits: bool = False,
    generator: torch.Generator | None = None,
    disable: bool = True,
) -> TrainingHistory:
    """Train ``model`` on the distillation loss of Eq. 2 with mini-batches; record its convergence.

    The paper trains its (linearized) students with Adam, β₁ = 0.9, β₂ = 0.999 (Sec. S4), which is
    the default here; ``optimizer="sgd"`` runs plain (mini-batch) gradient descent, the dynamics
    of Eq. S1 for which the converged weight change is exactly Eq. 4. Each epoch visits the
    samples in a fresh random order drawn from ``generator``, so runs are repeatable.

    The records measure what Sec. S1 predicts: the training logits approach Eq. 3's effective
    logits z_eff = effective_logits(z_t, y_g, ρ, T) (``logit_gap``), and, when
    ``weight_reference`` is the closed form φ(X)Θ̂⁻¹Δz of Eq. 4 as a flat vector, the weight
    change approaches it (``weight_gap``).

    Args:
        model: the student, e.g. ``linearize(NTKMLP(...))``; trained in place.
        x: (N, d) training inputs; z_t: (N,) teacher logits; y_g: (N,) hard labels in {0, 1}.
        rho, T: soft ratio in [0, 1] and temperature > 0 of Eq. 2. ρ = 0 has no finite minimiser.
        steps: optimizer steps (≥ 1). lr: learning rate (> 0).
        batch_size: samples per step (default: all N, full-batch).
        optimizer: "adam" (the paper's) or "sgd".
        betas: Adam's (β₁, β₂).
        record_every: record the history every this many steps (≥ 1), plus the first and last.
        weight_reference: flat (P,) weight change to measure ‖Δw − reference‖₂ against.
        keep_logits: also keep the training logits at every record (for spectral analyses).
        generator: CPU generator for the mini-batch order.
        disable: hide the tqdm progress bar (the caller decides).
    Returns:
        :class:`TrainingHistory`.
    Raises:
        ValueError: a parameter out of range or shapes that disagree (the message names it).
        kdlib.train.TrainingDiverged: the loss or Δw became NaN or ±inf (the message names the step).

    The loop is :func:`kdlib.train.fit` on :class:`kdlib.train.TensorBatches` with ``drop_last``:
    an epoch is ⌊N / batch_size⌋ steps, each epoch a fresh order of the samples.
    """

    if x.ndim != 2:
        raise ValueError(f"x must have shape (N, d), got {tuple(x.shape)}")
    count = x.shape[0]
    if z_t.shape != (count,) or y_g.shape != (count,):
        raise ValueError(f"z_t and y_g must have shape ({count},) to match x, got {tuple(z_t.shape)} and "
                         f"{tuple(y_g.shape)}")
    if not 0.0 < float(rho) <= 1.0:
        raise ValueError(f"rho must be in (0, 1] (ρ = 0 has no finite effective logit), got {rho!r}")
    if not float(T) > 0.0:
        raise ValueError(f"T must be a positive temperature (T > 0), got {T!r}")
    for name, value in (("steps", steps), ("record_every", record_every)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be an integer ≥ 1, got {value!r}")
    if not (isinstance(lr, int | float) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    batch_size = count if batch_size is None else batch_size
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or not 1 <= batch_size <= count:
        raise ValueError(f"batch_size must be an integer in [1, {count}], got {batch_size!r}")
    if optimizer not in ("adam", "sgd"):
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if not (len(betas) == 2 and all(0.0 <= beta < 1.0 for beta in betas)):
        raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise ValueError("model has no trainable parameters")
    total = sum(p.numel() for p in parameters)
    if weight_reference is not None and weight_reference.shape != (total,):
        raise ValueError(f"weight_reference must be a flat vector of the {total} trainable parameters, "
                         f"got shape {tuple(weight_reference.shape)}")

    z_eff = effective_logits(z_t, y_g, rho, T).to(device=x.device)
    z_t_, y_g_ = z_t.to(dtype=x.dtype, device=x.device), y_g.to(dtype=x.dtype, device=x.device)
    initial = [p.detach().clone() for p in parameters]
    if optimizer == "adam":
        optim: torch.optim.Optimizer = torch.optim.Adam(parameters, lr=lr, betas=betas)
    else:
        optim = torch.optim.SGD(parameters, lr=lr)
    reference = None if weight_reference is None else weight_reference.detach().to(dtype=torch.float64,
                                                                                   device=x.device)
    history = TrainingHistory()

    def record(step: int) -> None:
        with torch.no_grad():
            z_s = model(x)
            history.steps.append(step)
            history.epochs.append(step * batch_size / count)
            history.loss.append(kd_loss(z_s, z_t_, y_g_, rho, T).item())
            history.logit_gap.append((z_s.double() - z_eff).abs().max().item())
            change = torch.cat([(p.detach() - p0).reshape(-1) for p, p0 in zip(parameters, initial, strict=True)])
            history.weight_norm.append(torch.linalg.vector_norm(change.double()).item())
            if reference is not None:
                history.weight_gap.append(torch.linalg.vector_norm(change.double() - reference).item())
            if keep_logits:
                history.logits.append(z_s.detach().double().cpu())

    # train_kd's mini-batches: a fresh order of the N samples each epoch, cut into ⌊N / b⌋ full batches
    data = TensorBatches(x, z_t_, y_g_, batch_size=batch_size, drop_last=True)
    epochs = -(-steps // data.steps_per_epoch)
    fit(model, lambda student, batch: kd_loss(student(batch[0]), batch[1], batch[2], rho, T), optim, data,
        epochs=epochs, max_steps=steps, generator=generator,
        step_callbacks=[(frozenset(range(0, steps + 1, record_every)) | {steps}, lambda state: record(state.step))],
        loss_epochs=(), progress=not disable, desc="train_kd")
    return history
