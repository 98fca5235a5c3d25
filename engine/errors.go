package engine

import "errors"

// Sentinel errors returned by the engine.
var (
	// ErrServerClosed is returned by Run after Shutdown.
	ErrServerClosed = errors.New("engine: server closed")
	// ErrNotRunning is returned by Shutdown when Run has not started the reactor.
	ErrNotRunning = errors.New("engine: server not running")
	// ErrConnClosed is returned by writes to a connection that is closing or closed.
	ErrConnClosed = errors.New("engine: connection closed")
	// ErrLoopBehind is returned by Loop.PostLimit when the loop has its
	// limit of tasks waiting already: the task was not queued.
	ErrLoopBehind = errors.New("engine: event loop behind")
)
