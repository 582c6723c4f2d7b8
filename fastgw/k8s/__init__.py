"""Kubernetes: Gateway API manifests (and the agentgateway/kgateway CRDs the seeds use) rendered
into a fastgw config, and a controller that keeps a running gateway in step with a cluster.
See README.md beside this file."""

# fastgw's Gateway API controller name (GatewayClass.spec.controllerName)
CONTROLLER_NAME = "fastgw.dev/gateway-controller"
