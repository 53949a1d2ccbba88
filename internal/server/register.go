package server

import "github.com/prometheus/client_golang/prometheus"

// Register adds collectors to the metrics' registry: those of the parts that
// the command wires in beside the server, such as the SMS router's breakers
// and latencies and the providers' delivery receipts. A collector whose
// metrics clash with registered ones is an error.
func (m *Metrics) Register(cs ...prometheus.Collector) error {
	for _, c := range cs {
		if err := m.registry.Register(c); err != nil {
			return err
		}
	}
	return nil
}
