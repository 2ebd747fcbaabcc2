package workflows

import (
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/temporal"
)

// Typed search attribute keys: the Temporal UI and `starter list` filter
// accounts by them (AccountStage = "churn_recovery").
var (
	AccountStageKey   = temporal.NewSearchAttributeKeyKeyword("AccountStage")
	AccountTierKey    = temporal.NewSearchAttributeKeyKeyword("AccountTier")
	AccountManagerKey = temporal.NewSearchAttributeKeyKeyword("AccountManager")
	HealthScoreKey    = temporal.NewSearchAttributeKeyFloat64("HealthScore")
	ChurnRiskKey      = temporal.NewSearchAttributeKeyFloat64("ChurnRisk")
)

// SearchAttributes is what a namespace must register for kamflow, by name and type.
var SearchAttributes = map[string]enumspb.IndexedValueType{
	AccountStageKey.GetName():   enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AccountTierKey.GetName():    enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	AccountManagerKey.GetName(): enumspb.INDEXED_VALUE_TYPE_KEYWORD,
	HealthScoreKey.GetName():    enumspb.INDEXED_VALUE_TYPE_DOUBLE,
	ChurnRiskKey.GetName():      enumspb.INDEXED_VALUE_TYPE_DOUBLE,
}
