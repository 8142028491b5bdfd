pytest_plugins = ["tests.fixtures.s3", "tests.fixtures.controlplane", "tests.fixtures.spark_chain"]
