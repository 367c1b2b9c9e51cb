"""The quarterly cycle on Apache Spark (``creditpersona run --engine spark``).

* :mod:`~creditpersona.spark.session` builds the one Spark session.
* :mod:`~creditpersona.spark.results` keeps the result tables as Parquet, partitioned by
  as-of date, with the schemas of :data:`creditpersona.store.results.TABLES`.
* :mod:`~creditpersona.spark.stages` runs each stage's per-firm work per bucket of firms.
* :mod:`~creditpersona.spark.cycle` runs the stages in order and records where each ran.

Layer: above ``store`` and the stage packages, below ``pipeline`` and ``cli``. Nothing here is
imported unless the Spark engine is chosen (PySpark and Java 17 are needed then only).
"""
