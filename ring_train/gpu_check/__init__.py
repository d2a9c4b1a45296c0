"""``make gpu-check`` (``python -m ring_train.gpu_check``): every GPU test of the suite and a throughput
table in one call, sized for a GPU machine lent for minutes.

``runner`` runs checks under per-check limits and a total cap, ``envs`` makes the packages each layer
needs importable (or says why not), ``checks`` lists the checks, ``report`` formats lines and the
Markdown report. On a machine without CUDA every check is a SKIP line and the exit status is 0.
"""
