#!/bin/bash
# The entry point of the Spark image, with the semantics of Apache Spark's own image
# (apache/spark-docker entrypoint.sh), which spark-submit's Kubernetes pods expect:
#   driver ARGS...    spark-submit --deploy-mode client ARGS (the properties file that
#                     spark-submit mounted at $SPARK_HOME/conf is among ARGS)
#   executor          KubernetesExecutorBackend, configured by the SPARK_EXECUTOR_* variables
#   anything else     run as given
set -eo pipefail

if [[ -z $JAVA_HOME ]]; then
	JAVA_HOME=$(java -XshowSettings:properties -version 2>&1 >/dev/null | awk '/java.home/ {print $3}')
fi

SPARK_CLASSPATH="$SPARK_CLASSPATH:${SPARK_HOME}/jars/*"
SPARK_EXECUTOR_JAVA_OPTS=()
for v in "${!SPARK_JAVA_OPT_@}"; do
	SPARK_EXECUTOR_JAVA_OPTS+=("${!v}")
done
if [[ -n $SPARK_EXTRA_CLASSPATH ]]; then
	SPARK_CLASSPATH="$SPARK_CLASSPATH:$SPARK_EXTRA_CLASSPATH"
fi
if [[ -n ${PYSPARK_PYTHON+x} ]]; then
	export PYSPARK_PYTHON
fi
if [[ -n ${PYSPARK_DRIVER_PYTHON+x} ]]; then
	export PYSPARK_DRIVER_PYTHON
fi
if [[ -n ${HADOOP_CONF_DIR+x} ]]; then
	SPARK_CLASSPATH="$HADOOP_CONF_DIR:$SPARK_CLASSPATH"
fi
SPARK_CLASSPATH="${SPARK_CONF_DIR:-$SPARK_HOME/conf}:$SPARK_CLASSPATH:$PWD"

case "$1" in
driver)
	shift 1
	exec /usr/bin/tini -s -- "$SPARK_HOME/bin/spark-submit" \
		--conf "spark.driver.bindAddress=$SPARK_DRIVER_BIND_ADDRESS" \
		--conf "spark.executorEnv.SPARK_DRIVER_POD_IP=$SPARK_DRIVER_BIND_ADDRESS" \
		--deploy-mode client \
		"$@"
	;;
executor)
	shift 1
	exec /usr/bin/tini -s -- "$JAVA_HOME/bin/java" \
		"${SPARK_EXECUTOR_JAVA_OPTS[@]}" \
		-Xms"$SPARK_EXECUTOR_MEMORY" -Xmx"$SPARK_EXECUTOR_MEMORY" \
		-cp "$SPARK_CLASSPATH:$SPARK_DIST_CLASSPATH" \
		org.apache.spark.scheduler.cluster.k8s.KubernetesExecutorBackend \
		--driver-url "$SPARK_DRIVER_URL" \
		--executor-id "$SPARK_EXECUTOR_ID" \
		--cores "$SPARK_EXECUTOR_CORES" \
		--app-id "$SPARK_APPLICATION_ID" \
		--hostname "$SPARK_EXECUTOR_POD_IP" \
		--resourceProfileId "$SPARK_RESOURCE_PROFILE_ID" \
		--podName "$SPARK_EXECUTOR_POD_NAME"
	;;
*)
	exec "$@"
	;;
esac
