"""The project's benchmarks, each a module run from the repository root.

::

    python -m benchmarks.paper               # the paper's evaluation (Section 6, Appendix B)
    python -m benchmarks.beyond_paper        # the library's methods against magnitude pruning
    python -m benchmarks.selection_ablation  # edge scores x layer splits, with and without re-fit
    python -m benchmarks.grid_search         # a grid search over budgets with ``memory``
    python -m benchmarks.speed               # predict speed and accuracy of every method, MNIST
    python -m benchmarks.structured          # structured compression on MNIST: speed-up and accuracy
    python -m benchmarks.kernels             # crossover densities of the sparse products
    python -m benchmarks.memory              # peak memory of compression per method
    python -m benchmarks.certified           # certified compression against theory mode
    python -m benchmarks.fine_tune_start     # where fine-tuning should start, and its settings
    python -m benchmarks.torch_backend       # sensitivities with numpy or torch (``device=``)
    python -m benchmarks.torch_export        # exported torch modules: dense, CSR and COO layers

Each writes its results to ``benchmarks/results/``; ``--help`` lists its
options. They use the library's public API only; what they share (the data
sets, the paper's training recipe, timing and report helpers) is in
``_common``.
"""
