package cri

import (
	"testing"

	"go.uber.org/goleak"
)

// The checks start no goroutines and a closed Client leaves none behind.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
