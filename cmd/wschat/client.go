package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// DefaultURL is the chat the client connects to without a URL.
const DefaultURL = "ws://127.0.0.1:8080/chat"

// closeWait bounds the wait for the server's answer to our close frame.
const closeWait = 2 * time.Second

// run is the client: flags from args, lines from stdin, messages to
// stdout, errors to stderr. It returns the exit code: 0 after a close we
// started (stop, or the end of stdin), 1 when the connection was lost or
// could not be made, 2 for bad arguments.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, stop <-chan os.Signal) int {
	fs := flag.NewFlagSet("wschat", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rawURL := fs.String("url", DefaultURL, "chat URL (ws:// or wss://); a URL argument overrides it")
	name := fs.String("name", "", "ask for this name (1-32 letters, digits, _ or -)")
	dialTimeout := fs.Duration("dial-timeout", 10*time.Second, "give up connecting after this long")
	linger := fs.Duration("linger", 500*time.Millisecond, "after the end of stdin, keep printing what arrives this long before closing (answers to the last lines)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: wschat [flags] [URL]\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	if fs.NArg() == 1 {
		*rawURL = fs.Arg(0)
	}
	target, err := chatURL(*rawURL, *name)
	if err != nil {
		fmt.Fprintf(stderr, "wschat: %v\n", err)
		return 2
	}

	d := websocket.Dialer{HandshakeTimeout: *dialTimeout}
	c, _, err := d.Dial(target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "wschat: connect to %s: %v\n", target, err)
		return 1
	}
	defer c.Close()

	// One goroutine reads the connection and prints, one reads stdin; this
	// one writes, so that gorilla's single-writer rule holds.
	readErr := make(chan error, 1)
	go func() {
		for {
			_, p, err := c.ReadMessage()
			if err != nil {
				readErr <- err
				return
			}
			_, _ = stdout.Write(append(p, '\n')) // p is ours: ReadMessage returns a new slice
		}
	}()
	lines := make(chan string)
	go readLines(stdin, lines)

	var lingered <-chan time.Time // set at the end of input
	for {
		select {
		case line, ok := <-lines:
			if !ok { // end of input
				lines = nil
				lingered = time.After(*linger)
				continue
			}
			if line == "" {
				continue
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte(line)); err != nil {
				return lost(stderr, err)
			}
		case <-lingered:
			return closeNormally(c, readErr, stderr)
		case <-stop:
			return closeNormally(c, readErr, stderr)
		case err := <-readErr:
			return lost(stderr, err)
		}
	}
}

// chatURL checks a chat URL and adds the name query parameter.
func chatURL(raw, name string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("bad URL %q: %w", raw, err)
	}
	if u.Scheme != "ws" && u.Scheme != "wss" || u.Host == "" {
		return "", fmt.Errorf("bad URL %q: want ws://host[:port]/path or wss://host[:port]/path", raw)
	}
	if name != "" {
		q := u.Query()
		q.Set("name", name)
		u.RawQuery = q.Encode()
	}
	return u.String(), nil
}

// readLines sends stdin's lines (without their line ending) to lines, and
// closes it at the end of input.
func readLines(r io.Reader, lines chan<- string) {
	defer close(lines)
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line = strings.TrimRight(line, "\r\n"); line != "" || err == nil {
			lines <- line
		}
		if err != nil {
			return
		}
	}
}

// closeNormally sends close 1000 and waits (briefly) for the server's
// answer, so that the server sees a clean close, not a dropped socket.
func closeNormally(c *websocket.Conn, readErr <-chan error, stderr io.Writer) int {
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(closeWait)); err != nil {
		return lost(stderr, err)
	}
	select {
	case <-readErr: // the server's close frame, or the end of the socket
	case <-time.After(closeWait):
	}
	return 0
}

// lost reports a connection that ended without our asking, and returns 1.
func lost(stderr io.Writer, err error) int {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce):
		reason := ""
		if ce.Text != "" {
			reason = ": " + ce.Text
		}
		fmt.Fprintf(stderr, "wschat: connection lost: the server closed it (%d%s)\n", ce.Code, reason)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		fmt.Fprintln(stderr, "wschat: connection lost: the server dropped it")
	default:
		fmt.Fprintf(stderr, "wschat: connection lost: %v\n", err)
	}
	return 1
}
