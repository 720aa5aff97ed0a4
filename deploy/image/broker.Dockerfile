# A Pulsar broker image with the meshgate shim baked in (the alternative to mounting the jar).
# Build from the repository root after `make shim`:
#   docker build -f deploy/image/broker.Dockerfile -t meshgate/pulsar-broker:4.0.7-meshgate0.1.0 .
ARG PULSAR_IMAGE=apachepulsar/pulsar:4.0.7
FROM ${PULSAR_IMAGE}
COPY plugin-shim/target/meshgate-pulsar-shim-0.1.0.jar /pulsar/lib/meshgate-pulsar-shim.jar
# The session revoker (brokerInterceptors=meshgate-session-revoker, brokerInterceptorsDirectory=/pulsar/interceptors).
COPY plugin-shim/target/interceptors/meshgate-session-revoker-0.1.0.nar /pulsar/interceptors/
