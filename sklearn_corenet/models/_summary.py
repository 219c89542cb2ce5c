"""A per-layer table of a compression, for people to read."""

import numpy as np


class CompressionSummary:
    """Per-layer figures of a compression; ``print`` shows them as a table.

    Attributes
    ----------
    rows : list of dict
        One dict per weight layer with keys ``layer``, ``n_in``, ``n_out``,
        ``kept``, ``total``, ``epsilon``, ``delta_hat``, ``dead_neurons``.
    title : str
        The heading printed above the table: the method, the parameters
        kept and, where there is one, the ε that applies (see
        :meth:`from_estimator`).
    certificate : Certificate or None
        Printed below the table when the compression was certified.
    """

    columns = (
        ("layer", "layer", "{}"),
        ("n_in", "in", "{}"),
        ("n_out", "out", "{}"),
        ("kept", "kept", "{}"),
        ("total", "total", "{}"),
        ("kept %", "kept %", "{:.1f}"),
        ("epsilon", "ε_ℓ", "{:.3g}"),
        ("delta_hat", "Δ^ℓ", "{:.4g}"),
        ("dead_neurons", "dead", "{}"),
    )

    def __init__(self, rows, title="", certificate=None):
        self.rows = rows
        self.title = title
        self.certificate = certificate

    @classmethod
    def from_estimator(cls, estimator, certificate=None):
        """The table of a compressed estimator.

        Parameters
        ----------
        estimator : SparseMLPClassifier or SparseMLPRegressor
            A compressed model.
        certificate : Certificate, default=None
            Its certificate (:func:`certify`), shown below the table.

        Notes
        -----
        The title states one ε: with a certificate, the smallest ε it
        certifies at its δ; else the ε of the method's guarantee (theory
        mode), or the one its sample sizes amount to (a budget); none for
        the methods without a guarantee (the selection methods), whose ε is
        NaN.
        """
        info = estimator.compression_info_
        original = info.get("original_shapes") or [W.shape for W in estimator.coefs_]
        rows = []
        for layer, (W, b) in enumerate(zip(estimator.coefs_, estimator.intercepts_, strict=True)):
            n_in, n_out = original[layer]
            total = (n_in + 1) * n_out
            kept = int(W.count_nonzero() + np.count_nonzero(b))
            rows.append(
                {
                    "layer": layer + 1,
                    "n_in": f"{n_in}→{W.shape[0]}" if W.shape[0] != n_in else n_in,
                    "n_out": f"{n_out}→{W.shape[1]}" if W.shape[1] != n_out else n_out,
                    "kept": kept,
                    "total": total,
                    "kept %": 100 * kept / total,
                    "epsilon": _pick(info.get("layer_epsilons"), layer),
                    "delta_hat": _pick(info.get("delta_hat"), layer),
                    "dead_neurons": _pick(info.get("dead_neurons"), layer, count=True),
                }
            )
        title = (
            f"{estimator.source_ or 'MLP'} compressed with method={info.get('method')!r}: "
            f"{estimator.nnz_} of {estimator.n_params_original_} parameters kept "
            f"({100 * estimator.keep_ratio_:.1f}%){_epsilon_clause(info, certificate)}"
        )
        return cls(rows, title, certificate)

    def __str__(self):
        header = [label for _, label, _ in self.columns]
        body = []
        for row in self.rows:
            cells = []
            for key, _, fmt in self.columns:
                value = row.get(key)
                if value is None or (isinstance(value, float) and np.isnan(value)):
                    cells.append("-")
                elif isinstance(value, str):
                    cells.append(value)
                else:
                    cells.append(fmt.format(value))
            body.append(cells)
        widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(header)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
        lines.append("  ".join("-" * w for w in widths))
        lines += ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in body]
        if self.certificate is not None:
            lines += ["", str(self.certificate)]
        return "\n".join(lines)

    __repr__ = __str__


def _pick(values, index, count=False):
    if values is None or index >= len(values):
        return None
    value = values[index]
    if count:
        return len(value)
    return float(value)


def _epsilon_clause(info, certificate):
    """The title's ε: ", ε = ..." or nothing where no ε applies."""
    if certificate is not None and np.isfinite(certificate.epsilon_certified):
        return f", ε = {certificate.epsilon_certified:.4g} certified at δ = {certificate.delta:g}"
    epsilon = info.get("epsilon")
    if epsilon is None or not np.isfinite(epsilon):
        return ""
    return f", ε = {epsilon:.4g}"
