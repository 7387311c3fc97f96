package ipam_test

import (
	"os"

	"go.uber.org/zap/zapcore"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/config"
)

func controllerConfigUnique() config.Controller {
	return config.Controller{SkipNameValidation: ptr(true)}
}

func ptr[T any](v T) *T { return &v }

func zapLevel() zapcore.Level {
	if os.Getenv("OVNET_TEST_DEBUG") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}

func corev1LocalRef(name string) corev1.LocalObjectReference {
	return corev1.LocalObjectReference{Name: name}
}
