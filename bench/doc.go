// Package bench is the bundled WebSocket load client: it opens many
// connections on gnet's client side (no goroutine per connection), runs a
// scenario against any server with the /echo and /chat routes, and reports
// connect times, throughput, loss and latency percentiles.
//
// It measures from outside: it speaks RFC 6455 through package codec and
// never reaches into engine or hub, so the same run compares the node with
// other servers given only their URL (and, optionally, their PIDs for
// memory and CPU).
//
// # Usage
//
//	rep, err := bench.Run(ctx, bench.Config{
//		Scenario: bench.Echo,
//		URL:      "ws://127.0.0.1:8080", // path defaults to /echo
//		Conns:    200,
//		Duration: 5 * time.Second,
//	})
//	if err != nil { // e.g. errors.Is(err, bench.ErrRefused)
//		log.Fatal(err)
//	}
//	rep.WriteText(os.Stdout) // or json.Marshal(rep), rep.WriteHTML(f)
//
// A binary that runs with Procs > 1 re-executes itself as workers, so its
// main must begin with
//
//	if bench.IsWorker() {
//		os.Exit(bench.WorkerMain())
//	}
//
// # Structure
//
//	Run (coordinator) --spec/start/close--> worker 0..Procs-1 (in-process or processes)
//	                  <--progress/done----  each: dialers -> gnet client -> loops -> conns
//
// A worker dials its share of the users (users Lo..Hi-1, from source
// addresses 127.0.0.x past one address's ephemeral ports) with a few
// dialer goroutines and enrolls each socket into its gnet client. The event
// loops do the rest: the upgrade (request in OnOpen, response parsed from
// the bytes gnet buffered), frame decoding in place, echo replies, pongs,
// and, on a tick posted every millisecond, the timetables of broadcast
// and chat senders and open-loop echo connections. Every loop keeps its own counters and HdrHistograms;
// the worker sums them, the coordinator merges the workers' (histograms
// bucket by bucket, so percentiles are exact over all processes).
//
// The attack scenarios (attack-inbound, attack-outbound; attack.go, hog.go,
// attack_report.go) use the same machinery against a loopback server only,
// in one process: attackers write a partial frame and stall, hogs are plain
// sockets outside gnet that never read, and the coordinator samples the
// server's RSS for its peak and again after a settle period.
//
// Every message is tracked by sender and sequence number (track.go): each
// receiver tells first copies from duplicates with a small window per
// sender, and the coordinator finds what never came from what each
// receiver should have had (accounting.go), so that lost, duplicated and
// extra are counted apart and never netted. Messages on a schedule
// (broadcast, chat, open-loop echo) carry the time they were due
// (schedule.go), so a stalled client or server shows in the latency;
// closed-loop echo reports its round trips raw and corrected for
// coordinated omission. Timestamps follow the monotonic clock (clock.go).
//
// Config.URLs spreads the users over several servers, the nodes of a
// cluster (Config.NodeOf deals them); the accounting is then kept per pair
// of sender's and receiver's URL, and Report.Nodes has each URL's counts.
//
// A staged run (Scenario Mixed: a load plan's stages and mix, plan.go)
// deals its slots over every worker; each worker's pilot opens and closes
// its share as the stages' count moves (pilot.go, stages.go) and its loops
// run idle, echo and chat users (mix.go); stages and chat seconds go to
// the coordinator with the progress lines (stagereport.go). Thresholds
// (threshold.go) judge the report. Agents (agent.go) run workers on
// other machines: the coordinator speaks the worker protocol to them
// through the agent's TCP connection. The live view (live.go) serves the
// progress lines' running totals to Prometheus and a JSON lines file.
// deploy.go is where Run calls all of these.
//
// See protocol.go for the worker protocol, payload.go for the message
// layouts and result.go for the report schema (Report).
package bench
