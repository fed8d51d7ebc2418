package etcdstore

// SetLoadPage sets how many keys a page of Load reads, until the test ends.
func SetLoadPage(n int64) (restore func()) {
	old := loadPage
	loadPage = n
	return func() { loadPage = old }
}
