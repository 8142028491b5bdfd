//go:build tools

// Package tools pins the spark-operator command (controller and webhook) that build-chain.sh compiles.
package tools

import (
	_ "github.com/kubeflow/spark-operator/v2/cmd/operator"
)
