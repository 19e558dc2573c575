package agent

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
)

// DefaultNodeCacheInterval is how often NodeCache re-reads the Node. Checks
// use labels, capacity and kubelet conditions, which change rarely.
const DefaultNodeCacheInterval = time.Minute

// nodeCacheRequestTimeout bounds one GET; a slow API server is not a
// failure until then, whatever the interval.
const nodeCacheRequestTimeout = 10 * time.Second

// NodeCache keeps the agent's own Node object, read with a periodic GET
// (the DaemonSet's RBAC grants `nodes get` on purpose, not list or watch: a
// watch per node costs the API server far more than one GET a minute).
// It backs probes.Env.Node.
type NodeCache struct {
	client   KubeAPI
	nodeName string
	interval time.Duration
	clock    clock.WithTicker
	logger   *slog.Logger

	node atomic.Pointer[corev1.Node]
	// failing is only touched by Run's goroutine.
	failing bool
}

// NewNodeCache returns a cache for nodeName refreshed every interval
// (DefaultNodeCacheInterval when ≤ 0).
func NewNodeCache(client KubeAPI, nodeName string, interval time.Duration, clk clock.WithTicker, logger *slog.Logger) *NodeCache {
	if interval <= 0 {
		interval = DefaultNodeCacheInterval
	}
	return &NodeCache{
		client:   client,
		nodeName: nodeName,
		interval: interval,
		clock:    clk,
		logger:   logger.With("node", nodeName),
	}
}

// Get returns the Node as last read, or nil before the first successful
// read. After a failed read it keeps returning the last good copy. Callers
// must not modify it.
func (c *NodeCache) Get() *corev1.Node { return c.node.Load() }

// Run reads the Node now and then every interval until ctx is done. It runs
// in the caller's goroutine and starts none. Failures are logged once when
// reads start failing (and once when they recover), not on every retry.
func (c *NodeCache) Run(ctx context.Context) error {
	ticker := c.clock.NewTicker(c.interval)
	defer ticker.Stop()
	for {
		c.refresh(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C():
		}
	}
}

func (c *NodeCache) refresh(parent context.Context) {
	ctx, cancel := context.WithTimeout(parent, nodeCacheRequestTimeout)
	defer cancel()
	node, err := c.client.GetNode(ctx, c.nodeName)
	if err != nil {
		if parent.Err() != nil {
			return // shutting down, not a failure
		}
		if !c.failing {
			c.logger.Warn("cannot read own Node; checks that need it report unknown until it can be read", "err", err)
			c.failing = true
		} else {
			c.logger.Debug("still cannot read own Node", "err", err)
		}
		return
	}
	if c.failing {
		c.logger.Info("reading own Node works again")
		c.failing = false
	}
	c.node.Store(node)
}
