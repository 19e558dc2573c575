package benchkit

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Metrics is one scrape of a Prometheus endpoint, by family name.
type Metrics map[string]*dto.MetricFamily

// Scrape GETs url and parses the text exposition format.
func Scrape(ctx context.Context, client *http.Client, url string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "text/plain")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("scrape %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return ParseMetrics(resp.Body)
}

// ParseMetrics parses the Prometheus text format.
func ParseMetrics(r io.Reader) (Metrics, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(r)
	if err != nil {
		return nil, fmt.Errorf("parse metrics: %w", err)
	}
	return Metrics(fams), nil
}

// Value sums the samples of family name whose labels include every pair of
// match (nil matches all): counters, gauges and untyped values, or a
// histogram's sample count. A family that is absent is 0.
func (m Metrics) Value(name string, match map[string]string) float64 {
	fam, ok := m[name]
	if !ok {
		return 0
	}
	var sum float64
	for _, s := range fam.GetMetric() {
		if !labelsMatch(s, match) {
			continue
		}
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Untyped != nil:
			sum += s.GetUntyped().GetValue()
		case s.Histogram != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

// Has reports whether family name has a series with the labels of match.
func (m Metrics) Has(name string, match map[string]string) bool {
	fam, ok := m[name]
	if !ok {
		return false
	}
	for _, s := range fam.GetMetric() {
		if labelsMatch(s, match) {
			return true
		}
	}
	return false
}

// Histogram returns the merged cumulative buckets (upper bound → count) and
// the total count of family name's series matching match.
func (m Metrics) Histogram(name string, match map[string]string) (buckets map[float64]uint64, count uint64) {
	buckets = map[float64]uint64{}
	fam, ok := m[name]
	if !ok {
		return buckets, 0
	}
	for _, s := range fam.GetMetric() {
		if s.Histogram == nil || !labelsMatch(s, match) {
			continue
		}
		count += s.GetHistogram().GetSampleCount()
		for _, b := range s.GetHistogram().GetBucket() {
			buckets[b.GetUpperBound()] += b.GetCumulativeCount()
		}
	}
	return buckets, count
}

// HistogramQuantile estimates the q-quantile (0..1) of the observations
// between two scrapes of the same histogram, interpolating linearly inside
// the bucket the way PromQL's histogram_quantile does. ok is false without
// observations.
func HistogramQuantile(q float64, before, after map[float64]uint64) (v float64, ok bool) {
	bounds := make([]float64, 0, len(after))
	for b := range after {
		bounds = append(bounds, b)
	}
	sort.Float64s(bounds)
	if len(bounds) == 0 {
		return 0, false
	}
	total := float64(after[bounds[len(bounds)-1]] - before[bounds[len(bounds)-1]])
	if total == 0 {
		return 0, false
	}
	rank := q * total
	prevBound, prevCount := 0.0, 0.0
	for _, b := range bounds {
		c := float64(after[b] - before[b])
		if c >= rank {
			if b > 1e300 { // +Inf: the best answer is the last finite bound
				return prevBound, true
			}
			if c == prevCount {
				return b, true
			}
			return prevBound + (b-prevBound)*(rank-prevCount)/(c-prevCount), true
		}
		prevBound, prevCount = b, c
	}
	return prevBound, true
}

func labelsMatch(s *dto.Metric, match map[string]string) bool {
	for k, want := range match {
		found := false
		for _, l := range s.GetLabel() {
			if l.GetName() == k {
				found = l.GetValue() == want
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}
