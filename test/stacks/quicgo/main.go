// Command quicgo-peer is the quic-go side of quicsteer's two-stack tests (issue 16's peer contract:
// one protocol, so any client talks to any server): `quicgo-peer server ...` issues QUIC-LB plaintext
// connection IDs through quic-go's Config.ConnectionIDGenerator and answers each connection's first
// bidirectional stream with a file; `quicgo-peer client ...` uploads a file and saves the answer.
// Built by the Makefile against Debian's quic-go 0.29 and Go 1.19 in GOPATH mode (no network).
package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/lucas-clemente/quic-go"
	"github.com/lucas-clemente/quic-go/logging"
)

// The contract's ALPN and TLS server name (clients do not verify the test certificate).
const alpn = "quicsteer-test"

// QUIC connection IDs are at most 20 bytes (RFC 9000 17.2), which is also the most quic-go's
// ConnectionIDGenerator takes; a QUIC-LB nonce is at least 4 bytes and a server ID 1 to 15.
const (
	maxCidLen   = 20
	minNonceLen = 4
	maxSidLen   = 15
)

// The client's first bidirectional stream: the only one the protocol uses.
const streamID = logging.StreamID(0)

func main() {
	// quic-go prints a one-off warning through the log package when it cannot get a 2 MiB receive
	// buffer; stderr carries one line per failure here (udpSocket asks for the buffer itself).
	os.Setenv("QUIC_GO_DISABLE_RECEIVE_BUFFER_WARNING", "true")
	if len(os.Args) < 2 || (os.Args[1] != "server" && os.Args[1] != "client") {
		usage("expected 'server' or 'client' as the first argument")
	}
	if os.Args[1] == "server" {
		runServer(parseServer(os.Args[2:]))
	} else {
		os.Exit(runClient(parseClient(os.Args[2:])))
	}
}

// usage reports bad usage in one line and exits 2.
func usage(format string, args ...interface{}) {
	fmt.Fprintf(os.Stderr, "quicgo-peer: "+format+"\n", args...)
	os.Exit(2)
}

// fail reports a runtime failure in one line and returns the exit code 1.
func fail(format string, args ...interface{}) int {
	fmt.Fprintf(os.Stderr, "quicgo-peer: "+format+"\n", args...)
	return 1
}

// ---- command lines ----

type serverOpts struct {
	listen   *net.UDPAddr
	cert     tls.Certificate
	gen      *quicLBGenerator
	download string
	log      string
	idle     time.Duration
}

type clientOpts struct {
	connect *net.UDPAddr
	upload  string
	out     string
	idle    time.Duration
	cidLen  int
}

// flags parses --name value options (Go's flag package takes --name too), all of them required
// unless given a default, into one error line.
func flags(args []string, names []string, defaults map[string]string) map[string]string {
	fs := flag.NewFlagSet("quicgo-peer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	vals := map[string]*string{}
	for _, n := range names {
		vals[n] = fs.String(n, defaults[n], "")
	}
	if err := fs.Parse(args); err != nil {
		usage("%v", err)
	}
	if fs.NArg() > 0 {
		usage("unexpected argument %q", fs.Arg(0))
	}
	out := map[string]string{}
	for _, n := range names {
		if *vals[n] == "" {
			usage("--%s is required", n)
		}
		out[n] = *vals[n]
	}
	return out
}

// ipv4Port parses ip:port (or *:port when star is allowed: every address).
func ipv4Port(opt, s string, star bool) *net.UDPAddr {
	host, port, err := net.SplitHostPort(s)
	p, perr := strconv.ParseUint(port, 10, 16)
	ip := net.ParseIP(host).To4()
	if star && host == "*" {
		ip = net.IPv4zero
	}
	if err != nil || perr != nil || p == 0 || ip == nil {
		usage("--%s %s: expected <IPv4>:<port>%s", opt, s, map[bool]string{true: " or *:<port>", false: ""}[star])
	}
	return &net.UDPAddr{IP: ip, Port: int(p)}
}

func intIn(opt, s string, lo, hi int) int {
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		usage("--%s %s: expected an integer from %d to %d", opt, s, lo, hi)
	}
	return n
}

func idleTimeout(s string) time.Duration {
	return time.Duration(intIn("idle-timeout-ms", s, 1, 3600_000)) * time.Millisecond
}

func parseServer(args []string) serverOpts {
	f := flags(args, []string{"listen", "cert", "key", "sid", "cid-first-octet", "cid-len", "download", "log", "idle-timeout-ms"}, map[string]string{"idle-timeout-ms": "5000"})
	sid, err := hex.DecodeString(f["sid"])
	if err != nil || len(sid) < 1 || len(sid) > maxSidLen {
		usage("--sid %s: expected 1 to %d bytes of hex (e.g. 0001)", f["sid"], maxSidLen)
	}
	first, err := strconv.ParseUint(f["cid-first-octet"], 16, 8)
	if err != nil {
		usage("--cid-first-octet %s: expected one byte in hex (e.g. 13)", f["cid-first-octet"])
	}
	// first octet ‖ server ID ‖ nonce of at least 4 bytes, 20 bytes at most: QUIC-LB's limits (quic-go
	// takes any length from 0 to 20 from a ConnectionIDGenerator); lo is at most 20 (maxSidLen)
	lo := 1 + len(sid) + minNonceLen
	cidLen, err := strconv.Atoi(f["cid-len"])
	if err != nil || cidLen < lo || cidLen > maxCidLen {
		usage("--cid-len %s: a QUIC-LB CID with a %d-byte server ID takes %d to %d bytes (first octet, server ID, nonce of at least %d)", f["cid-len"], len(sid), lo, maxCidLen, minNonceLen)
	}
	o := serverOpts{
		listen:   ipv4Port("listen", f["listen"], true),
		gen:      &quicLBGenerator{first: byte(first), sid: sid, length: cidLen},
		download: f["download"],
		log:      f["log"],
		idle:     idleTimeout(f["idle-timeout-ms"]),
	}
	if o.cert, err = tls.LoadX509KeyPair(f["cert"], f["key"]); err != nil {
		usage("--cert %s --key %s: %v", f["cert"], f["key"], err)
	}
	return o
}

func parseClient(args []string) clientOpts {
	// the client's own CIDs only need to be unique: 8 random bytes, as many clients use
	f := flags(args, []string{"connect", "upload", "out", "idle-timeout-ms", "cid-len"}, map[string]string{"idle-timeout-ms": "5000", "cid-len": "8"})
	return clientOpts{
		connect: ipv4Port("connect", f["connect"], false),
		upload:  f["upload"],
		out:     f["out"],
		idle:    idleTimeout(f["idle-timeout-ms"]),
		cidLen:  intIn("cid-len", f["cid-len"], 0, maxCidLen),
	}
}

// ---- connection IDs ----

// quicLBGenerator makes every CID the server issues (handshake SCID, Retry SCID, NEW_CONNECTION_ID):
// first octet ‖ server ID ‖ random nonce, QUIC-LB plaintext (`--cid quic-lb:sid=<sid len>,nonce=<rest>`).
type quicLBGenerator struct {
	first  byte
	sid    []byte
	length int
}

func (g *quicLBGenerator) GenerateConnectionID() ([]byte, error) {
	cid := make([]byte, g.length)
	cid[0] = g.first
	copy(cid[1:], g.sid)
	_, err := rand.Read(cid[1+len(g.sid):])
	return cid, err
}

// ConnectionIDLen: quic-go reads short headers with it, so every CID has this length.
func (g *quicLBGenerator) ConnectionIDLen() int { return g.length }

// ---- what happened to the stream, from quic-go's tracer ----

// quic-go 0.29 has no call that says a stream's data was acknowledged, nor why a connection
// closed; its tracer sees both. One tracker per connection, found by the connection's tracing ID.
type tracker struct {
	logging.NullConnectionTracer
	mu       sync.Mutex
	sent     map[logging.PacketNumber][]span // 1-RTT packets carrying the stream's data or FIN
	acked    []span                          // stream bytes acknowledged, sorted and merged
	fin      int64                           // the stream's final size once its FIN was sent, else -1
	finAcked bool
	finSent  chan struct{} // closed when the FIN first went out
	allAcked chan struct{} // closed when every byte and the FIN were acknowledged
	closeErr error
}

type span struct {
	from, to int64
	fin      bool
}

func newTracker() *tracker {
	return &tracker{sent: map[logging.PacketNumber][]span{}, fin: -1, finSent: make(chan struct{}), allAcked: make(chan struct{})}
}

func (t *tracker) SentPacket(hdr *logging.ExtendedHeader, _ logging.ByteCount, _ *logging.AckFrame, frames []logging.Frame) {
	if hdr.IsLongHeader {
		return // stream data travels in 1-RTT packets (no 0-RTT here)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range frames {
		if s, ok := f.(*logging.StreamFrame); ok && s.StreamID == streamID {
			t.sent[hdr.PacketNumber] = append(t.sent[hdr.PacketNumber], span{int64(s.Offset), int64(s.Offset + s.Length), s.Fin})
			if s.Fin && t.fin < 0 {
				t.fin = int64(s.Offset + s.Length)
				close(t.finSent)
			}
		}
	}
}

// AcknowledgedPacket: a lost packet's data is sent again in another packet, so progress is the
// union of the byte ranges acknowledged, not a count of packets.
func (t *tracker) AcknowledgedPacket(level logging.EncryptionLevel, pn logging.PacketNumber) {
	if level != logging.Encryption1RTT {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	spans, ok := t.sent[pn]
	if !ok {
		return
	}
	delete(t.sent, pn)
	for _, s := range spans {
		t.acked = merge(t.acked, s)
		t.finAcked = t.finAcked || s.fin
	}
	if t.finAcked && (t.fin == 0 || (len(t.acked) == 1 && t.acked[0].from == 0 && t.acked[0].to == t.fin)) {
		select {
		case <-t.allAcked:
		default:
			close(t.allAcked)
		}
	}
}

// LostPacket: quic-go sends the data again in a new packet; the lost one is forgotten.
func (t *tracker) LostPacket(level logging.EncryptionLevel, pn logging.PacketNumber, _ logging.PacketLossReason) {
	if level == logging.Encryption1RTT {
		t.mu.Lock()
		delete(t.sent, pn)
		t.mu.Unlock()
	}
}

func (t *tracker) ClosedConnection(err error) {
	t.mu.Lock()
	t.closeErr = err
	t.mu.Unlock()
}

// err is why the connection closed (quic-go's error: idle timeout, the peer's close, ...).
func (t *tracker) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closeErr == nil {
		return errors.New("closed")
	}
	return t.closeErr
}

// merge adds [s.from, s.to) to sorted, disjoint ranges.
func merge(ranges []span, s span) []span {
	if s.to <= s.from {
		return ranges
	}
	out := make([]span, 0, len(ranges)+1)
	for _, r := range ranges {
		if r.to < s.from || r.from > s.to {
			out = append(out, r)
			continue
		}
		if r.from < s.from {
			s.from = r.from
		}
		if r.to > s.to {
			s.to = r.to
		}
	}
	out = append(out, span{from: s.from, to: s.to})
	for i := len(out) - 1; i > 0 && out[i].from < out[i-1].from; i-- {
		out[i], out[i-1] = out[i-1], out[i]
	}
	return out
}

// trackers hands each connection's tracker from quic-go's TracerForConnection to the code that
// accepted or dialed the connection (both see the same tracing ID).
type trackers struct {
	mu sync.Mutex
	m  map[uint64]*tracker
}

func (ts *trackers) TracerForConnection(ctx context.Context, _ logging.Perspective, _ logging.ConnectionID) logging.ConnectionTracer {
	t := newTracker()
	if id, ok := ctx.Value(quic.ConnectionTracingKey).(uint64); ok {
		ts.mu.Lock()
		ts.m[id] = t
		ts.mu.Unlock()
	}
	return t
}

func (ts *trackers) SentPacket(net.Addr, *logging.Header, logging.ByteCount, []logging.Frame) {}
func (ts *trackers) DroppedPacket(net.Addr, logging.PacketType, logging.ByteCount, logging.PacketDropReason) {
}

// of removes and returns a connection's tracker.
func (ts *trackers) of(c quic.Connection) *tracker {
	id, _ := c.Context().Value(quic.ConnectionTracingKey).(uint64)
	ts.mu.Lock()
	defer ts.mu.Unlock()
	t := ts.m[id]
	delete(ts.m, id)
	if t == nil {
		t = newTracker() // not reached: quic-go traces every connection once a Tracer is set
	}
	return t
}

// ---- both sides ----

// udpSocket opens the UDP socket quic-go runs on, with the 2 MiB receive buffer it asks for (as
// root, past net.core.rmem_max: a smaller one drops packets on a fast loopback).
func udpSocket(addr *net.UDPAddr) (*net.UDPConn, error) {
	c, err := net.ListenUDP("udp4", addr)
	if err != nil {
		return nil, err
	}
	if raw, err := c.SyscallConn(); err == nil {
		raw.Control(func(fd uintptr) {
			syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 2<<20)
		})
	}
	return c, nil
}

func quicConfig(idle time.Duration, tr *trackers) *quic.Config {
	return &quic.Config{
		Versions:             []quic.VersionNumber{quic.Version1},
		HandshakeIdleTimeout: idle,
		MaxIdleTimeout:       idle,
		Tracer:               tr,
	}
}

// ---- server ----

// eventLog appends JSON lines to the --log file, each in one write (no buffer a SIGKILL could lose).
type eventLog struct {
	mu sync.Mutex
	f  *os.File
}

// ev writes {"ev":name, k1:v1, ...} with the keys in the order given.
func (l *eventLog) ev(name string, kv ...interface{}) {
	var b strings.Builder
	b.WriteString(`{"ev":`)
	b.Write(mustJSON(name))
	for i := 0; i+1 < len(kv); i += 2 {
		b.WriteString(",")
		b.Write(mustJSON(kv[i]))
		b.WriteString(":")
		b.Write(mustJSON(kv[i+1]))
	}
	b.WriteString("}\n")
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.WriteString(b.String())
}

func mustJSON(v interface{}) []byte {
	j, _ := json.Marshal(v) // strings and numbers only
	return j
}

func runServer(o serverOpts) {
	if st, err := os.Stat(o.download); err != nil || !st.Mode().IsRegular() {
		usage("--download %s: not a readable file", o.download)
	}
	f, err := os.OpenFile(o.log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		usage("--log %s: %v", o.log, err)
	}
	log := &eventLog{f: f}
	sock, err := udpSocket(o.listen)
	if err != nil {
		os.Exit(fail("listen on %s: %v", o.listen, err))
	}
	tr := &trackers{m: map[uint64]*tracker{}}
	conf := quicConfig(o.idle, tr)
	conf.ConnectionIDGenerator = o.gen
	ln, err := quic.Listen(sock, &tls.Config{Certificates: []tls.Certificate{o.cert}, NextProtos: []string{alpn}}, conf)
	if err != nil {
		os.Exit(fail("listen on %s: %v", o.listen, err))
	}
	log.ev("listening", "addr", sock.LocalAddr().String())
	for {
		c, err := ln.Accept(context.Background())
		if err != nil {
			log.ev("error", "msg", "accept: "+err.Error())
			os.Exit(1)
		}
		go serve(c, tr.of(c), o.download, log)
	}
}

// serve answers one connection: the client's first bidirectional stream is read to its FIN while
// the download is written to it. quic-go 0.29 keeps sending to the address the handshake came from
// (Connection.RemoteAddr never changes: it does not follow a NAT rebinding), so there is no
// {"ev":"remote"} to log.
func serve(c quic.Connection, t *tracker, download string, log *eventLog) {
	log.ev("conn", "remote", c.RemoteAddr().String())
	if s, err := c.AcceptStream(c.Context()); err != nil {
		log.ev("error", "msg", "accept stream: "+err.Error())
	} else {
		go receiveUpload(s, log)
		go sendDownload(c, s, t, download, log)
	}
	<-c.Context().Done()
	log.ev("closed", "reason", t.err().Error())
}

func receiveUpload(s quic.Stream, log *eventLog) {
	h := sha256.New()
	n, err := io.Copy(h, s)
	if err != nil {
		log.ev("error", "msg", fmt.Sprintf("upload after %d bytes: %v", n, err))
		return
	}
	log.ev("upload", "bytes", n, "sha256", hex.EncodeToString(h.Sum(nil)))
}

func sendDownload(c quic.Connection, s quic.Stream, t *tracker, download string, log *eventLog) {
	f, err := os.Open(download)
	if err != nil {
		log.ev("error", "msg", "download: "+err.Error())
		s.CancelWrite(0)
		return
	}
	defer f.Close()
	n, err := io.Copy(s, f)
	if err == nil {
		err = s.Close() // queues the FIN
	}
	if err != nil {
		log.ev("error", "msg", fmt.Sprintf("download after %d bytes: %v", n, err))
		return
	}
	select {
	case <-t.finSent:
		log.ev("sent", "bytes", n)
	case <-c.Context().Done():
		// (the stream's own context ends at Close, before the FIN is sent)
		select {
		case <-t.finSent:
			log.ev("sent", "bytes", n)
		default:
			log.ev("error", "msg", "download: the connection closed before the FIN was sent")
		}
	}
}

// ---- client ----

func runClient(o clientOpts) int {
	up, err := os.Open(o.upload)
	if err != nil {
		usage("--upload %s: %v", o.upload, err)
	}
	out, err := os.OpenFile(o.out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		usage("--out %s: %v", o.out, err)
	}
	sock, err := udpSocket(&net.UDPAddr{IP: net.IPv4zero})
	if err != nil {
		return fail("socket: %v", err)
	}
	tr := &trackers{m: map[uint64]*tracker{}}
	conf := quicConfig(o.idle, tr)
	conf.ConnectionIDLength = o.cidLen
	tlsConf := &tls.Config{ServerName: alpn, InsecureSkipVerify: true, NextProtos: []string{alpn}}
	// SSLKEYLOGFILE (as other TLS clients read it): the tests decrypt a capture with it to see the
	// CIDs in the server's NEW_CONNECTION_ID frames
	if name := os.Getenv("SSLKEYLOGFILE"); name != "" {
		kl, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			usage("SSLKEYLOGFILE %s: %v", name, err)
		}
		tlsConf.KeyLogWriter = kl
	}
	c, err := quic.Dial(sock, o.connect, alpn, tlsConf, conf)
	if err != nil {
		return fail("%s", connError("handshake with "+o.connect.String(), err, o.idle))
	}
	t := tr.of(c)
	s, err := c.OpenStreamSync(c.Context())
	if err != nil {
		return fail("%s", connError("open stream", err, o.idle))
	}
	errs := make(chan error, 2)
	go func() {
		n, err := io.Copy(s, up)
		if err == nil {
			err = s.Close() // FIN after the last byte
		}
		errs <- wrap(err, "upload after %d bytes", n)
	}()
	go func() {
		n, err := io.Copy(out, s)
		errs <- wrap(err, "download after %d bytes", n)
	}()
	for i := 0; i < 2; i++ {
		if err := <-errs; err != nil {
			return fail("%s", connError("transfer", err, o.idle))
		}
	}
	// both directions are done here but for the upload's acknowledgements: closing now could drop
	// a retransmission the server still needs
	select {
	case <-t.allAcked:
	case <-c.Context().Done():
		return fail("%s", connError("waiting for the upload's acknowledgement", t.err(), o.idle))
	}
	if err := out.Close(); err != nil {
		return fail("--out %s: %v", o.out, err)
	}
	c.CloseWithError(0, "done")
	return 0
}

func wrap(err error, format string, args ...interface{}) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// connError says whether a failure was the idle timeout or another connection error.
func connError(what string, err error, idle time.Duration) string {
	var idleErr *quic.IdleTimeoutError
	var hsErr *quic.HandshakeTimeoutError
	switch {
	case errors.As(err, &idleErr):
		return fmt.Sprintf("idle timeout: %s: no packet from the server for %d ms", what, idle.Milliseconds())
	case errors.As(err, &hsErr):
		return fmt.Sprintf("handshake timeout: %s: %v", what, err)
	default:
		return fmt.Sprintf("connection error: %s: %v", what, err)
	}
}
