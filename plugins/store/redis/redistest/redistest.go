// Package redistest starts real redis-server processes for tests: on a free
// loopback port, in a temporary directory, stopped when the test ends.
//
// Without a redis-server on the PATH the test is skipped with a message
// saying how to install it, unless the environment variable CI is set: then
// it fails, so that CI never passes by skipping.
package redistest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure a server.
type Options struct {
	// Password, when set, is required of clients (requirepass).
	Password string
	// Persist keeps the data on disk (an append-only file fsync'd on every
	// write), so that it survives Kill and Restart.
	Persist bool
	// TLS makes the server speak TLS only, with a self-signed certificate
	// for 127.0.0.1; URL then returns a rediss:// URL that skips verifying it.
	TLS bool
}

// Server is a running (or stopped) redis-server.
type Server struct {
	// Addr is the server's host:port, on 127.0.0.1.
	Addr string
	// Dir is the server's working directory (its data and log).
	Dir string

	t    testing.TB
	bin  string
	opts Options
	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{}
	log  string // the log file of the current process
	runs int
}

// Binary returns the path of redis-server, or skips t (fails it when CI is
// set) with a message saying how to install it.
func Binary(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err == nil {
		return bin
	}
	const msg = "redis-server is not installed (Debian/Ubuntu: apt-get install redis-server; macOS: brew install redis)"
	if os.Getenv("CI") != "" {
		t.Fatalf("%s; CI is set, so tests that need it fail instead of skipping", msg)
	} else {
		t.Skipf("%s: skipping", msg)
	}
	return ""
}

// Start starts a redis-server for the test; it is killed when the test ends.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), opts: opts, Dir: t.TempDir()}
	var err error
	if opts.TLS {
		if err := writeCert(s.Dir); err != nil {
			t.Fatalf("making a certificate for redis-server: %v", err)
		}
	}
	for range 5 { // another process may take the free port before redis binds it
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	t.Cleanup(s.Kill)
	return s
}

// URL returns the redis:// URL of database 0, with the password if there is
// one, and the query q if it is not empty ("lease_ttl=1s").
func (s *Server) URL(q string) string {
	u := "redis://"
	if s.opts.TLS {
		u = "rediss://"
		if q != "" {
			q += "&"
		}
		q += "skip_verify=true" // a go-redis parameter
	}
	if s.opts.Password != "" {
		u += ":" + s.opts.Password + "@"
	}
	u += s.Addr + "/0"
	if q != "" {
		u += "?" + q
	}
	return u
}

// Kill stops the server with SIGKILL and waits until it is gone. Killing a
// stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exit
}

// Restart starts a killed server again on the same port and directory and
// waits until it answers (bounded).
func (s *Server) Restart() {
	s.t.Helper()
	var err error
	for range 50 { // the port may linger for a moment
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	s.t.Fatalf("restarting redis-server on %s: %v", s.Addr, err)
}

// start runs redis-server on s.Addr and waits (bounded) until it answers.
func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	s.runs++
	s.log = filepath.Join(s.Dir, fmt.Sprintf("redis-%d.log", s.runs))
	args := []string{
		"--port", port, "--bind", "127.0.0.1", "--dir", s.Dir,
		"--daemonize", "no", "--save", "", "--logfile", s.log,
	}
	if s.opts.TLS {
		args[1] = "0" // no plain TCP port
		args = append(args, "--tls-port", port, "--tls-auth-clients", "no",
			"--tls-cert-file", filepath.Join(s.Dir, "cert.pem"), "--tls-key-file", filepath.Join(s.Dir, "key.pem"),
			"--tls-ca-cert-file", filepath.Join(s.Dir, "cert.pem"))
	}
	if s.opts.Persist {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	} else {
		args = append(args, "--appendonly", "no")
	}
	if s.opts.Password != "" {
		args = append(args, "--requirepass", s.opts.Password)
	}
	cmd := exec.Command(s.bin, args...)
	if err := cmd.Start(); err != nil {
		return err
	}
	exit := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exit)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Ready once it logs so: another server on the port could answer a PING.
		if b, _ := os.ReadFile(s.log); strings.Contains(string(b), "Ready to accept connections") {
			s.mu.Lock()
			s.cmd, s.exit = cmd, exit
			s.mu.Unlock()
			return nil
		}
		select {
		case <-exit:
			return fmt.Errorf("redis-server on %s exited at start: %s", s.Addr, s.logTail())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exit
			return fmt.Errorf("redis-server on %s did not answer in 10s: %s", s.Addr, s.logTail())
		}
	}
}

// logTail returns the end of the server's log.
func (s *Server) logTail() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key to
// dir/cert.pem and dir/key.pem.
func writeCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}
