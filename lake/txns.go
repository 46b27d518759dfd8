package lake

// Transactions returns every application's last txn version in the snapshot
// (appId → version), as Spark's Snapshot.setTransactions lists them.
func (s *Snapshot) Transactions() map[string]int64 {
	out := make(map[string]int64, len(s.txns))
	for app, t := range s.txns {
		out[app] = t.Version
	}
	return out
}
