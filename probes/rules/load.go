package rules

import (
	"fmt"

	"github.com/nodetriage/nodetriage/probes"
)

// Load builds the engine the agent runs from its configuration: the
// default packs, then the user's rules (the AgentConfig's `rules`), then
// every node-problem-detector rule file in npdRuleFiles, in that order. A
// rule file that does not load is a *probes.FieldError naming
// npdRuleFiles[i], so the error says which entry of the config is wrong.
func Load(userRules probes.Settings, npdRuleFiles []string, opts Options) (*Engine, error) {
	all := DefaultRules()
	user, err := DecodeUserRules(userRules)
	if err != nil {
		return nil, err
	}
	all = append(all, user...)
	for i, path := range npdRuleFiles {
		npd, err := LoadNPDFile(path)
		if err != nil {
			return nil, &probes.FieldError{Field: fmt.Sprintf("npdRuleFiles[%d]", i), Reason: err.Error()}
		}
		all = append(all, npd...)
	}
	return NewEngine(all, opts)
}
