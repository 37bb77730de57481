#!/usr/bin/env bash
# CI step: the `cluster` extra (dask, distributed) in the active venv, then
# the tests against a real distributed.LocalCluster (two worker processes,
# bound to 127.0.0.1, no dashboard) and the crawler running its parse stage
# on such a cluster.  Run by .ci/run with the default venv active; pip's own
# cache keeps the wheels between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
start=$(date +%s)

python3 -m pip install -q -e ".[test,cluster]"
python3 -c 'import dask, distributed; print("dask", dask.__version__, "distributed", distributed.__version__)'
python3 -m pytest -q -p no:cacheprovider tests/executors
timeout 300 python3 examples/crawler_cluster.py

echo "cluster step: $(( $(date +%s) - start )) s"
