"""The output gate: decides from pixels whether a generated image may reach a shopper (`judge`).

Modules: `figure` (the silhouette against the backdrop), `regions` (body parts from a skeleton), `pose_match`
(pose agreement), `appearance` (garment, pattern, head), `thresholds` (per backend, calibrated), `judge` (the checks
in order, reasons in merchant language), `targets` (a pose set's targets for one source).
"""

from gpu_worker.gate.judge import BackendReport, Verdict, judge

__all__ = ["BackendReport", "Verdict", "judge"]
