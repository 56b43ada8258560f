package main

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/sdep-dev/sdep/internal/resources"
)

// routeCommand has the route flags of `sdep operator`, set to args.
func routeCommand(t *testing.T, args ...string) (*cobra.Command, *string, *string, *resources.RouteOptions) {
	t.Helper()
	cmd := &cobra.Command{}
	var gw, grpc string
	ro := &resources.RouteOptions{}
	cmd.Flags().StringVar(&gw, "gateway", "", "")
	cmd.Flags().StringVar(&grpc, "gateway-grpc", "", "")
	cmd.Flags().StringVar(&ro.ExternalURL, "gateway-url", "", "")
	if err := cmd.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	return cmd, &gw, &grpc, ro
}

func TestOperatorRouteSettings(t *testing.T) {
	t.Setenv(envGateway, "gateways/from-env")
	t.Setenv(resources.EnvIstioEnabled, "true")
	t.Setenv(resources.EnvIstioGateway, "istio-system/seldon-gateway")

	cmd, gw, grpc, ro := routeCommand(t, "--gateway=gateways/public/http", "--gateway-grpc=gateways/public/grpc", "--gateway-url=https://models.example.com")
	if err := routeOptions(cmd, ro, *gw, *grpc); err != nil {
		t.Fatal(err)
	}
	if ro.Gateway.String() != "gateways/public/http" || ro.GRPCParent().String() != "gateways/public/grpc" || ro.ExternalURL != "https://models.example.com" {
		t.Errorf("flags: %+v", ro)
	}
	if !ro.Istio.Enabled || ro.Istio.Gateway != "istio-system/seldon-gateway" {
		t.Errorf("Istio from the environment: %+v", ro.Istio)
	}

	cmd, gw, grpc, ro = routeCommand(t)
	if err := routeOptions(cmd, ro, *gw, *grpc); err != nil || ro.Gateway.String() != "gateways/from-env" {
		t.Errorf("the Gateway from $%s: %+v %v", envGateway, ro.Gateway, err)
	}

	t.Setenv(envGateway, "")
	cmd, gw, grpc, ro = routeCommand(t, "--gateway-grpc=none")
	if err := routeOptions(cmd, ro, *gw, *grpc); err == nil || !strings.Contains(err.Error(), "needs --gateway") {
		t.Errorf("--gateway-grpc without --gateway: %v", err)
	}
	for _, args := range [][]string{{"--gateway=public"}, {"--gateway=gateways/public", "--gateway-url=models.example.com"}} {
		cmd, gw, grpc, ro = routeCommand(t, args...)
		if err := routeOptions(cmd, ro, *gw, *grpc); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
