package api_test

import (
	"io"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/serialine/serialine/line/api/apitest"
)

// BenchmarkStatusRequest: one authenticated GET /api/v1/status over
// loopback (session check, controller snapshot, JSON), p50/p99 reported.
func BenchmarkStatusRequest(b *testing.B) {
	e := apitest.NewEnv(b, apitest.EnvOptions{})
	req, _ := http.NewRequest("GET", e.URL+"/api/v1/status", nil)
	req.Header.Set("Authorization", "Bearer "+e.Tokens["otto"])
	c := e.Server.Client()
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatal(resp.Status)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
}
