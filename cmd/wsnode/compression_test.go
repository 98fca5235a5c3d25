package main

import (
	"bytes"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestCompressionFlags(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		env     map[string]string
		on      bool
		thresh  int
		level   int
		wantErr string
	}{
		{args: nil, thresh: 128, level: 1},
		{args: []string{"--compression", "on", "--compression-threshold", "0", "--compression-level", "6"}, on: true, thresh: -1, level: 6},
		{env: map[string]string{"WSNODE_COMPRESSION": "on", "WSNODE_COMPRESSION_THRESHOLD": "512"}, on: true, thresh: 512, level: 1},
		{args: []string{"--compression=true"}, on: true, thresh: 128, level: 1},
		{args: []string{"--compression", "yes"}, wantErr: "want on or off"},
		{args: []string{"--compression-level", "10"}, wantErr: "--compression-level 10"},
		{args: []string{"--compression-threshold", "-5"}, wantErr: "--compression-threshold -5"},
	} {
		var o options
		fs, _ := newFlagSet(&o, io.Discard)
		err := parse(fs, tt.args, func(k string) string { return tt.env[k] })
		if err == nil {
			err = checkCompression(&o.engine)
		}
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("%v: err %v, want %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		e := o.engine
		if e.Compression != tt.on || e.CompressionThreshold != tt.thresh || e.CompressionLevel != tt.level {
			t.Fatalf("%v %v: compression %v threshold %d level %d", tt.args, tt.env, e.Compression, e.CompressionThreshold, e.CompressionLevel)
		}
	}
}

// TestCompressionNode: the node with --compression on negotiates
// permessage-deflate with a gorilla client on /chat and /echo.
func TestCompressionNode(t *testing.T) {
	n := startNode(t, "--compression", "on", "--chat-rate", "0")
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	for _, path := range []string{"/echo", "/chat?name=zed"} {
		ws, resp, err := d.Dial("ws://"+n.addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if ext := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.HasPrefix(ext, "permessage-deflate") {
			t.Fatalf("%s: not negotiated: %q", path, ext)
		}
		ws.EnableWriteCompression(true)
		msg := bytes.Repeat([]byte("compress me "), 40)
		if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			_, p, err := ws.ReadMessage()
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			if bytes.Contains(p, msg) {
				break
			}
		}
		ws.Close()
	}
	// Both connections negotiated; the chat line was compressed once.
	if v := scrape(t, n, "wsnode_deflate_connections_total"); v != 2 {
		t.Fatalf("wsnode_deflate_connections_total = %v, want 2", v)
	}
	if v := scrape(t, n, "wsnode_compressed_frames_total"); v < 1 {
		t.Fatalf("wsnode_compressed_frames_total = %v, want >= 1", v)
	}
}
