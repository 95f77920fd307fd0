package web

// The data of each page's template is a struct of its own that embeds
// page, so that a template naming a field the handler does not set fails
// the build's tests instead of rendering nothing. The structs of pages
// that several handlers render live here; the others next to their
// handler.

// page is what the layout and the partials read on every page. render
// fills it in.
type page struct {
	// Me is the signed-in principal, nil for anonymous visitors.
	Me *principal
	// Path is the request's path, for the sign-in link's return.
	Path string
	// Now is the time of the request in Unix seconds, for relative
	// times.
	Now int64
}

func (p *page) base() *page { return p }

// pageData is the data of a page: a pointer to a struct that embeds
// page.
type pageData interface{ base() *page }

// buildsPage is a list of builds (builds.html): a job's, an evaluation's,
// the queue, a channel.
type buildsPage struct {
	page
	Title string
	// Note and Shield, if set, are shown under the title.
	Note, Shield string
	Builds       []Build
	// Empty replaces the list when it has no builds.
	Empty string
	// Page and More drive the pager; Page 0 shows none.
	Page int
	More bool
}

// buildTable is the data of the buildtable partial when a page shows a
// list of builds among other things.
type buildTable struct {
	Builds []Build
	Now    int64
	Empty  string
}

// errorsPage shows the errors of an evaluation or a jobset (errors.html).
type errorsPage struct {
	page
	Title, Back string
	// FetchErrors are those of fetching the inputs, Errors those of the
	// evaluation.
	FetchErrors, Errors string
}

// errorPage answers a failed request (error.html).
type errorPage struct {
	page
	Status          int
	StatusText, Msg string
	// SignIn offers the login page: the request needs a signed-in user.
	SignIn bool
}
