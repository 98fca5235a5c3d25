package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbedConfig configures an embedded nats-server (wsnode --nats-embed):
// the zero-dependency way to run a cluster on one machine or a few.
type EmbedConfig struct {
	// Addr is the client address, HOST:PORT. Required.
	Addr string
	// StoreDir holds JetStream's data (the names and liveness buckets).
	// If empty, a directory under the system's temporary directory.
	StoreDir string
	// Routes are nats-route:// URLs of other embedding nodes: with them,
	// the servers form one NATS cluster. If empty, the server stands alone.
	Routes []string
	// ClusterAddr is where this server listens for routes, HOST:PORT. If
	// empty (and Routes set), Addr's host and its port + 1.
	ClusterAddr string
	// Name names the server (unique in a NATS cluster) and the NATS
	// cluster (ClusterName). If empty, the server's defaults.
	Name, ClusterName string
	// Logger receives the server's warnings and errors. If nil, none.
	Logger *slog.Logger
}

// Embedded is a running embedded nats-server.
type Embedded struct{ ns *server.Server }

// Embed starts a nats-server with JetStream inside this process and waits
// until it accepts clients. A server that cannot start (its store cannot
// be created, its port is taken) fails at once with the server's reason.
func Embed(cfg EmbedConfig) (*Embedded, error) {
	host, port, err := splitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("cluster: --nats-embed %q: %w", cfg.Addr, err)
	}
	o := &server.Options{
		Host: host, Port: port, ServerName: cfg.Name,
		JetStream: true, StoreDir: cfg.StoreDir,
		NoSigs: true,
	}
	if len(cfg.Routes) > 0 {
		ca := cfg.ClusterAddr
		if ca == "" {
			ca = net.JoinHostPort(host, strconv.Itoa(port+1))
		}
		ch, cp, err := splitHostPort(ca)
		if err != nil {
			return nil, fmt.Errorf("cluster: route address %q: %w", ca, err)
		}
		o.Cluster = server.ClusterOpts{Name: cfg.ClusterName, Host: ch, Port: cp}
		for _, r := range cfg.Routes {
			u := server.RoutesFromStr(r)
			if len(u) == 0 {
				return nil, fmt.Errorf("cluster: bad route %q", r)
			}
			o.Routes = append(o.Routes, u...)
		}
	}
	ns, err := server.NewServer(o)
	if err != nil {
		return nil, fmt.Errorf("cluster: embedded nats-server: %w", err)
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	log := slogLogger{l: logger.With("component", "nats-server"), fatal: make(chan string, 1)}
	ns.SetLogger(log, false, false)
	go ns.Start()
	// The server reports what stops it from starting through Fatalf (and
	// then just returns from Start): wait for readiness or that.
	deadline := time.Now().Add(10 * time.Second)
	for !ns.ReadyForConnections(50 * time.Millisecond) {
		select {
		case msg := <-log.fatal:
			ns.Shutdown()
			return nil, fmt.Errorf("cluster: embedded nats-server: %s", msg)
		default:
		}
		if time.Now().After(deadline) {
			ns.Shutdown()
			return nil, errors.New("cluster: embedded nats-server not ready in 10s")
		}
	}
	return &Embedded{ns: ns}, nil
}

// URL is the server's client URL.
func (e *Embedded) URL() string { return e.ns.ClientURL() }

// Shutdown stops the server and waits for it.
func (e *Embedded) Shutdown() {
	e.ns.Shutdown()
	e.ns.WaitForShutdown()
}

func splitHostPort(addr string) (string, int, error) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(p)
	if err != nil || port < 0 || port > 65535 {
		return "", 0, fmt.Errorf("bad port %q", p)
	}
	if host == "" {
		host = "0.0.0.0"
	}
	return host, port, nil
}

// slogLogger passes the server's notices, warnings and errors to slog, and
// the first fatal error to fatal.
type slogLogger struct {
	l     *slog.Logger
	fatal chan string
}

func (s slogLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s slogLogger) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s slogLogger) Fatalf(format string, v ...any) {
	msg := fmt.Sprintf(format, v...)
	s.l.Error(msg)
	select {
	case s.fatal <- msg:
	default:
	}
}
func (s slogLogger) Errorf(format string, v ...any) { s.l.Error(fmt.Sprintf(format, v...)) }
func (s slogLogger) Debugf(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s slogLogger) Tracef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
