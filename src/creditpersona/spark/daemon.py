"""The Python daemon of a local Spark session's workers (Spark Python 守护进程).

Spark starts one daemon per executor (``python -m pyspark.daemon``) and forks a Python
worker from it for every concurrent task; ``spark.python.daemon.module`` names another
daemon. This one runs PySpark's own after two changes, for local mode (where the workers
run beside the driver, on the driver's Python):

* the archives Spark puts on the workers' ``PYTHONPATH`` (``pyspark.zip``, the py4j
  source zip and ``spark-core``'s jar) leave ``sys.path`` when PySpark is installed as a
  package (``pip install pyspark``): every task calls ``importlib.invalidate_caches``, which
  makes each zip importer read its archive's whole directory again in pure Python (the jar
  holds thousands of entries), and modules in the package are imported from files rather
  than decompressed from the zip;
* numpy, pandas, pyarrow and PySpark's worker are imported once in the daemon, so that a
  forked worker finds them imported.

:func:`creditpersona.spark.session.spark_session` does not set it; the test suite does
(``CREDITPERSONA_SPARK_CONF`` in tests/conftest.py), and so may a local run:
``--spark-conf spark.python.daemon.module=creditpersona.spark.daemon``.
"""

from __future__ import annotations

import importlib.util
import runpy
import sys


def plain_path() -> list[str]:
    """Remove the archives (``.zip``, ``.jar``) from ``sys.path`` when PySpark imports
    without them; the removed entries (none when PySpark is only in an archive)."""
    archives = [p for p in sys.path if p.endswith((".zip", ".jar"))]
    kept = [p for p in sys.path if p not in archives]
    saved = list(sys.path)
    sys.path[:] = kept
    if importlib.util.find_spec("pyspark") is None:  # only in the archive: keep it
        sys.path[:] = saved
        return []
    for p in archives:
        sys.path_importer_cache.pop(p, None)
    return archives


def main() -> None:
    """PySpark's daemon (``pyspark.daemon``, the worker module in ``sys.argv`` as Spark
    passes it) with :func:`plain_path` applied and the workers' libraries imported."""
    plain_path()
    import numpy  # noqa: F401
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401
    import pyspark.worker  # noqa: F401

    runpy.run_module("pyspark.daemon", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
