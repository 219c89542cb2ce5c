"""The project's benchmarks, each a module run from the repository root.

::

    python -m benchmarks.paper               # the paper's evaluation (Section 6, Appendix B)
    python -m benchmarks.beyond_paper        # the default method against magnitude pruning
    python -m benchmarks.selection_ablation  # edge scores x layer splits, with and without re-fit
    python -m benchmarks.grid_search         # a grid search over budgets with ``memory``
    python -m benchmarks.speed               # speed, memory and size of the compressor
    python -m benchmarks.torch_backend       # sensitivities with numpy or torch (``device=``)

Each writes its results to ``benchmarks/results/``; ``--help`` lists its
options. They use the library's public API only; what they share (the data
sets, the paper's training recipe, timing and report helpers) is in
``_common``.
"""
