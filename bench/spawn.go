package bench

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

// workerConn is the coordinator's end of one worker.
type workerConn struct {
	index int
	enc   *json.Encoder
	stdin io.WriteCloser
	cmd   *exec.Cmd     // nil in-process
	exit  chan struct{} // closed when the worker has ended
	// remote is the agent that runs the worker (agent.go); nil here.
	remote *agentLink
}

func (wc *workerConn) send(m ctlMsg) {
	if wc.remote != nil {
		_ = wc.remote.send(agentMsg{Op: "ctl", Worker: wc.index, Ctl: &m})
		return
	}
	_ = wc.enc.Encode(m)
}

// startWorker starts worker spec.Index, in-process or as a process, and
// feeds its messages to msgs.
// The reader stops when quit is closed.
func startWorker(spec workerSpec, cfg *Config, msgs chan<- workerMsg, quit <-chan struct{}) (*workerConn, error) {
	wc := &workerConn{index: spec.Index, exit: make(chan struct{})}
	var stdout io.Reader
	if cfg.Procs == 1 {
		inR, inW := io.Pipe()
		outR, outW := io.Pipe()
		wc.stdin, stdout = inW, outR
		go func() {
			defer close(wc.exit)
			err := serveWorker(inR, outW)
			_ = inR.Close()
			_ = outW.CloseWithError(errors.Join(err, io.EOF))
		}()
	} else {
		argv := cfg.WorkerCommand
		if len(argv) == 0 {
			exe, err := os.Executable()
			if err != nil {
				return nil, fmt.Errorf("bench: find own executable for --procs: %w", err)
			}
			argv = []string{exe, "__worker"}
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = append(os.Environ(), workerEnv+"=1")
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("bench: start worker %d: %w", spec.Index, err)
		}
		wc.cmd, wc.stdin, stdout = cmd, in, out
		go func() {
			_ = cmd.Wait()
			close(wc.exit)
		}()
	}
	wc.enc = json.NewEncoder(wc.stdin)
	go func() {
		dec := json.NewDecoder(bufio.NewReader(stdout))
		for {
			var m workerMsg
			err := dec.Decode(&m)
			if err != nil {
				m = workerMsg{Op: opClosed, Err: eofErr(spec.Index, err)}
			}
			m.Worker = spec.Index
			select {
			case msgs <- m:
			case <-quit:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	wc.send(ctlMsg{Op: opSpec, Spec: &spec})
	return wc, nil
}

// eofErr describes the end of a worker's output: nil for a clean EOF.
func eofErr(i int, err error) *FailError {
	if errors.Is(err, io.EOF) {
		return nil
	}
	return &FailError{Reason: ReasonOther, Msg: fmt.Sprintf("bench: worker %d: %v", i, err)}
}

// stop closes the worker's stdin and waits for it to end, killing a worker
// process that does not end within d.
func (wc *workerConn) stop(d time.Duration) {
	if wc.remote != nil { // its agent ends it
		select {
		case <-wc.exit:
		case <-time.After(d):
		}
		return
	}
	_ = wc.stdin.Close()
	select {
	case <-wc.exit:
	case <-time.After(d):
		if wc.cmd != nil && wc.cmd.Process != nil {
			_ = wc.cmd.Process.Kill()
			<-wc.exit
		}
	}
}
