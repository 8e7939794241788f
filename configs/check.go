package configs

import (
	"fmt"
	"net"
	"strconv"
)

// CheckHostPort checks a TCP address to dial: host:port with a host and a
// port 1..65535. The error says what is wrong, for Problems.Add.
func CheckHostPort(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("bad port %q (want 1..65535)", port)
	}
	return nil
}
