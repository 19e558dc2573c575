package hostchecks

import "flag"

// update rewrites the golden files under testdata/ instead of comparing:
// go test ./hostchecks -update. The one definition for the package.
var update = flag.Bool("update", false, "rewrite golden files under testdata/")
