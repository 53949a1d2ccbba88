package postgres

// SetBatch bounds the batches of Purge and RenameSubjects of s and reports
// each one to seen (tests only).
func SetBatch(s *Store, rows int, seen func(table string, rows int64)) {
	s.batch, s.onBatch = rows, seen
}
