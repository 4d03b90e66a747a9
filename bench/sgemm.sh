#!/usr/bin/env bash
# SGEMM kernel benchmark (JMH): builds dynalora-core and dynalora-bench, then runs SgemmBenchmark and its
# FMA-peak reference and prints a GFLOP/s table. Extra arguments go to JMH, e.g.
#   bench/sgemm.sh -f 1 -wi 2 -i 3 -p threads=1 -p form=NN
# bench/sgemm.sh --cpu-time [seconds] measures the same cases outside JMH and adds GFLOP per CPU-second,
# the figure to read when other jobs share the cores.
# MVN_ARGS defaults to -o (offline: the dependencies are prefetched); set MVN_ARGS= to allow downloads.
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -q -B ${MVN_ARGS--o} -DskipTests -pl dynalora-bench -am package
# JAVA_HOME picks the JDK (as for bin/dynalora); without it, `java` on the PATH.
JAVA="${JAVA_HOME:+$JAVA_HOME/bin/java}"
exec "${JAVA:-java}" --add-modules jdk.incubator.vector -cp 'dynalora-bench/target/classes:dynalora-bench/target/lib/*' \
    dev.dynalora.bench.SgemmBenchmark "$@"
