"""The one Spark session of a cycle (Spark 会话).

Local mode by default (``local[N]``, N the usable cores); a cluster by ``--spark-master``
or ``CREDITPERSONA_SPARK_MASTER``, any Spark setting by ``--spark-conf k=v`` or
``CREDITPERSONA_SPARK_CONF`` (``k=v`` pairs separated by spaces). Under ``spark-submit``
the master given there wins: pass no master and the builder keeps the submitted one.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from creditpersona.errors import ConfigurationError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

#: Settings every cycle session has (any may be overridden by ``conf``).
DEFAULTS: dict[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    # Small results only come back to the driver (the counts and the fit samples).
    "spark.driver.maxResultSize": "256m",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.sql.adaptive.enabled": "true",
    # PySpark 4's DataFrame debugging records the Python call site of every DataFrame and
    # Column call in the JVM (a column expression made 13 JVM round trips instead of 3). The
    # stages build plans of hundreds of columns: off, a column expression took 335 us
    # instead of 1,087 us and the 400-firm review 15.7 s instead of 18.3 s (medians of six
    # warm runs, 2026-12-05). Set it back to true to see Python call sites in Spark's
    # error messages.
    "spark.python.sql.dataFrameDebugging.enabled": "false",
    # Result files hold customer data: owner-only, as safeio writes the embedded ones.
    "spark.hadoop.fs.permissions.umask-mode": "077",
}
MASTER_ENV = "CREDITPERSONA_SPARK_MASTER"
CONF_ENV = "CREDITPERSONA_SPARK_CONF"


def parse_conf(pairs: Iterable[str]) -> dict[str, str]:
    """``["k=v", ...]`` as a dict.

    Raises
    ------
    ConfigurationError
        If an item has no ``=`` or an empty key (the message names it).

    Examples
    --------
    >>> parse_conf(["spark.executor.memory=8g", "spark.sql.shuffle.partitions=400"])
    {'spark.executor.memory': '8g', 'spark.sql.shuffle.partitions': '400'}
    """
    out: dict[str, str] = {}
    for item in pairs:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ConfigurationError(
                f"--spark-conf {item!r}: a Spark setting is KEY=VALUE, e.g. "
                "spark.executor.memory=8g.")
        out[key.strip()] = value.strip()
    return out


def settings(master: str | None = None, conf: Mapping[str, str] | None = None
             ) -> tuple[str | None, dict[str, str]]:
    """The master and settings of the session: defaults, then the environment, then ``conf``.

    Examples
    --------
    >>> m, c = settings("local[2]", {"spark.driver.maxResultSize": "64m"})
    >>> m, c["spark.driver.maxResultSize"], c["spark.sql.session.timeZone"]
    ('local[2]', '64m', 'UTC')
    """
    merged = dict(DEFAULTS)
    merged.update(parse_conf(shlex.split(os.environ.get(CONF_ENV, ""))))
    merged.update(conf or {})
    chosen = master or os.environ.get(MASTER_ENV) or None
    return chosen, merged


def spark_session(master: str | None = None, conf: Mapping[str, str] | None = None,
                  app_name: str = "creditpersona") -> SparkSession:
    """The Spark session of a cycle, created or (same JVM) reused with ``conf`` applied.

    Without a master (argument or environment) and outside ``spark-submit``, the session
    runs in local mode on every usable core.
    """
    from pyspark.sql import SparkSession

    chosen, merged = settings(master, conf)
    builder = SparkSession.builder.appName(app_name)
    if chosen is None and "spark.master" not in os.environ.get("PYSPARK_SUBMIT_ARGS", ""):
        chosen = f"local[{max(1, len(os.sched_getaffinity(0)))}]"
    if chosen is not None:
        builder = builder.master(chosen)
    for key, value in merged.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    fixed = session.sparkContext.getConf()
    if any(not _has(fixed.get(k), v, k) for k, v in merged.items() if k.startswith(_STATIC)):
        # A session of this process built with other fixed settings (memory, result size)
        # cannot take them at run time: build it again.
        session.stop()
        session = builder.getOrCreate()
    for key, value in merged.items():  # a reused session takes the SQL settings
        if key.startswith("spark.sql."):
            session.conf.set(key, value)
    return session


#: Settings fixed when the JVM starts.
_STATIC = ("spark.driver.", "spark.executor.", "spark.master")


def _has(fixed: str | None, wanted: str, key: str) -> bool:
    """Whether a running session's setting ``fixed`` is ``wanted``. Spark puts its own
    options (``--add-opens``, ``-Djava.net.preferIPv6Addresses``) before the JVM options
    it was given, so those are kept when ``fixed`` ends with them.

    Examples
    --------
    >>> _has("-Dspark=1 -XX:+UseSerialGC", "-XX:+UseSerialGC", "spark.driver.extraJavaOptions")
    True
    >>> _has("64m", "256m", "spark.driver.maxResultSize")
    False
    """
    if fixed is None:
        return False
    if key.endswith("JavaOptions"):
        return fixed.endswith(wanted)
    return fixed == wanted
