# Helm chart targets (charts/sdep); included by the root Makefile.

# helm, built once from the module proxy by hack/helm.sh (cached under bin/helm/).
HELM = $$(hack/helm.sh | tail -n1)
CHART := charts/sdep
CHART_CHECK := cd hack/tools/helm && GOWORK=off $(GO) run ./chartcheck
# Files the chart copies from config/: the CRD and the generated manager role.
CHART_COPIES := config/crd/bases/machinelearning.seldon.io_seldondeployments.yaml:$(CHART)/crds/machinelearning.seldon.io_seldondeployments.yaml \
	config/rbac/role.yaml:$(CHART)/files/role.yaml

.PHONY: helm helm-check chart-sync verify-chart-sync

helm: ## Build helm into bin/helm/ (from hack/tools/helm).
	@hack/helm.sh >/dev/null

chart-sync: ## Copy the CRD and the manager role from config/ into the chart.
	@for p in $(CHART_COPIES); do cp "$${p%%:*}" "$${p##*:}"; done

verify-chart-sync: ## Fail if the chart's copies of the CRD or the manager role differ from config/.
	@for p in $(CHART_COPIES); do \
		diff -u "$${p%%:*}" "$${p##*:}" >/dev/null || { echo "$${p##*:} differs from $${p%%:*}: run make chart-sync and commit"; exit 1; }; \
	done

helm-check: verify-chart-sync ## helm lint and helm template (defaults; watchNamespace + certManager) with the output checked.
	@set -e; helm=$(HELM); \
	$$helm lint --strict $(CHART); \
	echo "helm template: default values"; \
	$$helm template sdep $(CHART) --namespace sdep-system | ($(CHART_CHECK) \
		-kinds ServiceAccount,ClusterRole,ClusterRoleBinding,Role,RoleBinding,Service,Deployment,ValidatingWebhookConfiguration,APIService \
		-absent Certificate,Issuer,ServiceMonitor); \
	echo "helm template: watchNamespace=models, webhook.certMode=certManager, ServiceMonitor, executor resources, no metrics API"; \
	$$helm template sdep $(CHART) --namespace sdep-system --set watchNamespace=models --set webhook.certMode=certManager \
		--set metrics.serviceMonitor.enabled=true --set executor.resources.requests.cpu=100m --set metricsApi.enabled=false \
		--set image=registry.test/sdep:1 --set executorImage=registry.test/sdep:1 | ($(CHART_CHECK) \
		-kinds Role,RoleBinding,Service,Deployment,ValidatingWebhookConfiguration,Certificate,Issuer,ServiceMonitor \
		-absent ClusterRole,ClusterRoleBinding,APIService); \
	echo "helm template: a bad webhook.certMode must fail"; \
	if $$helm template sdep $(CHART) --set webhook.certMode=bogus >/dev/null 2>&1; then echo "webhook.certMode=bogus rendered"; exit 1; fi
