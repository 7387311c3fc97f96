package patch

// Internals the tests of package patch_test look at.
var (
	ChangeOf     = changeOf
	ConditionsOf = conditionsOf
)
