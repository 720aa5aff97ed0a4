package dev.meshgate.pulsar;

import dev.meshgate.proto.v1.AuthorizeRequest;
import dev.meshgate.proto.v1.Credential;
import dev.meshgate.proto.v1.Resource;
import java.io.IOException;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import javax.ws.rs.core.Response;
import org.apache.pulsar.broker.ServiceConfiguration;
import org.apache.pulsar.broker.authentication.AuthenticationDataSource;
import org.apache.pulsar.broker.authorization.AuthorizationProvider;
import org.apache.pulsar.broker.resources.PulsarResources;
import org.apache.pulsar.broker.web.RestException;
import org.apache.pulsar.client.admin.GrantTopicPermissionOptions;
import org.apache.pulsar.client.admin.RevokeTopicPermissionOptions;
import org.apache.pulsar.common.naming.NamespaceName;
import org.apache.pulsar.common.naming.TopicName;
import org.apache.pulsar.common.policies.data.AuthAction;
import org.apache.pulsar.common.policies.data.BrokerOperation;
import org.apache.pulsar.common.policies.data.ClusterOperation;
import org.apache.pulsar.common.policies.data.NamespaceOperation;
import org.apache.pulsar.common.policies.data.PolicyName;
import org.apache.pulsar.common.policies.data.PolicyOperation;
import org.apache.pulsar.common.policies.data.TenantInfo;
import org.apache.pulsar.common.policies.data.TenantOperation;
import org.apache.pulsar.common.policies.data.TopicOperation;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Answers every authorization question the broker asks by asking meshgate. Errors and timeouts deny (the future
 * fails with a message naming the meshgate service and why it could not decide); super-users (broker.conf
 * superUserRoles) short-circuit without a call.
 */
public class MeshgateAuthorizationProvider implements AuthorizationProvider {

    private static final Logger LOG = LoggerFactory.getLogger(MeshgateAuthorizationProvider.class);
    private MeshgateRuntime runtime;
    private String brokerId;
    private String policyRepository = MeshgateConfig.POLICY_REPOSITORY_DEFAULT;
    private ProvenRoles provenRoles;

    @Override
    public void initialize(ServiceConfiguration conf, PulsarResources resources) throws IOException {
        MeshgateConfig config;
        try {
            config = MeshgateConfig.from(conf);
        } catch (IllegalArgumentException e) {
            throw new IOException("meshgate: invalid broker configuration: " + e.getMessage(), e);
        }
        brokerId = conf.getClusterName() + "/" + conf.getAdvertisedAddress();
        policyRepository = MeshgateConfig.policyRepository(conf);
        runtime = MeshgateRuntime.acquire(config);
        provenRoles = new ProvenRoles(conf.getProxyRoles(), runtime.metrics());
        LOG.info("meshgate authorization asks {} (deadline {} ms, cache {} entries for {} s, on error: {})",
                config.targets(), config.deadlineMillis(), config.cacheMaxEntries(), config.cacheTtlSeconds(),
                config.failMode());
    }

    // --- the core: one question, one answer, deny on anything but an explicit allow ---

    CompletableFuture<Boolean> ask(String role, String action, Resource resource, String subscription,
                                   AuthenticationDataSource data) {
        try {
            AuthorizeRequest question = question(role, action, resource, subscription, data);
            CompletableFuture<Boolean> refused = provenRoles.refusal(role, action, resource, data);
            if (refused != null) {
                runtime.decider().refusedUnproven(question);  // never asked, but on record
                return refused;  // a spiffe: or oidc: role that no meshgate provider proved: never asked
            }
            return runtime.decider().outcome(question).thenApply(outcome -> Undecided.allowedOrFail(outcome, data));
        } catch (RuntimeException e) {
            // Never let a bug here escape to the broker as an exception: it denies, like any other error.
            LOG.error("meshgate: denying {} {} for {}: could not ask the service", action,
                    Actions.describe(resource), role, e);
            return CompletableFuture.completedFuture(false);
        }
    }

    private AuthorizeRequest question(String role, String action, Resource resource, String subscription,
                                      AuthenticationDataSource data) {
        AuthorizeRequest.Builder request = AuthorizeRequest.newBuilder()
                .setPrincipal(Actions.orEmpty(role))
                .setAction(action)
                .setResource(resource)
                .setSubscription(Actions.orEmpty(subscription))
                .setBrokerId(brokerId)
                .setPeer(Credentials.peerOf(data))
                .setCredentialKind(Credentials.credentialKind(data, role));
        Optional<Credential> token = Credentials.token(data);
        token.ifPresent(request::setCredential);
        return request.build();
    }

    private static String subscriptionOf(AuthenticationDataSource data) {
        return data != null && data.hasSubscription() ? data.getSubscription() : "";
    }

    // --- super-user and tenant admin ---

    @Override
    public CompletableFuture<Boolean> isSuperUser(String role, AuthenticationDataSource data,
                                                  ServiceConfiguration conf) {
        return ask(role, Actions.SUPERUSER, Resource.getDefaultInstance(), "", data);
    }

    @Override
    public CompletableFuture<Boolean> isTenantAdmin(String tenant, String role, TenantInfo info,
                                                    AuthenticationDataSource data) {
        return ask(role, Actions.TENANT_ADMIN, Actions.tenant(tenant), "", data);
    }

    // --- topics ---

    @Override
    public CompletableFuture<Boolean> canProduceAsync(TopicName topic, String role, AuthenticationDataSource data) {
        return ask(role, Actions.of("topic", TopicOperation.PRODUCE), Actions.topic(topic), "", data);
    }

    @Override
    public CompletableFuture<Boolean> canConsumeAsync(TopicName topic, String role, AuthenticationDataSource data,
                                                      String subscription) {
        return ask(role, Actions.of("topic", TopicOperation.CONSUME), Actions.topic(topic), subscription, data);
    }

    @Override
    public CompletableFuture<Boolean> canLookupAsync(TopicName topic, String role, AuthenticationDataSource data) {
        return ask(role, Actions.of("topic", TopicOperation.LOOKUP), Actions.topic(topic), "", data);
    }

    @Override
    public CompletableFuture<Boolean> allowTopicOperationAsync(TopicName topic, String role, TopicOperation operation,
                                                               AuthenticationDataSource data) {
        return ask(role, Actions.of("topic", operation), Actions.topic(topic), subscriptionOf(data), data);
    }

    @Override
    public CompletableFuture<Boolean> allowTopicPolicyOperationAsync(TopicName topic, String role, PolicyName policy,
                                                                     PolicyOperation operation,
                                                                     AuthenticationDataSource data) {
        return ask(role, Actions.policy("topic_policy", policy, operation), Actions.topic(topic), "", data);
    }

    // --- namespaces and tenants ---

    @Override
    public CompletableFuture<Boolean> allowNamespaceOperationAsync(NamespaceName namespace, String role,
                                                                   NamespaceOperation operation,
                                                                   AuthenticationDataSource data) {
        return ask(role, Actions.of("namespace", operation), Actions.namespace(namespace), "", data);
    }

    @Override
    public CompletableFuture<Boolean> allowNamespacePolicyOperationAsync(NamespaceName namespace, PolicyName policy,
                                                                         PolicyOperation operation, String role,
                                                                         AuthenticationDataSource data) {
        return ask(role, Actions.policy("namespace_policy", policy, operation), Actions.namespace(namespace), "",
                data);
    }

    @Override
    public CompletableFuture<Boolean> allowTenantOperationAsync(String tenant, String role, TenantOperation operation,
                                                                AuthenticationDataSource data) {
        return ask(role, Actions.of("tenant", operation), Actions.tenant(tenant), "", data);
    }

    @Override
    public CompletableFuture<Boolean> allowFunctionOpsAsync(NamespaceName namespace, String role,
                                                            AuthenticationDataSource data) {
        return ask(role, "namespace.functions", Actions.namespace(namespace), "", data);
    }

    @Override
    public CompletableFuture<Boolean> allowSourceOpsAsync(NamespaceName namespace, String role,
                                                          AuthenticationDataSource data) {
        return ask(role, "namespace.sources", Actions.namespace(namespace), "", data);
    }

    @Override
    public CompletableFuture<Boolean> allowSinkOpsAsync(NamespaceName namespace, String role,
                                                        AuthenticationDataSource data) {
        return ask(role, "namespace.sinks", Actions.namespace(namespace), "", data);
    }

    // --- brokers and clusters (4.0+) ---

    @Override
    public CompletableFuture<Boolean> allowBrokerOperationAsync(String cluster, String brokerId,
                                                                BrokerOperation operation, String role,
                                                                AuthenticationDataSource data) {
        return ask(role, Actions.of("broker", operation), Actions.cluster(cluster, brokerId), "", data);
    }

    @Override
    public CompletableFuture<Boolean> allowClusterOperationAsync(String cluster, ClusterOperation operation,
                                                                 String role, AuthenticationDataSource data) {
        return ask(role, Actions.of("cluster", operation), Actions.cluster(cluster, null), "", data);
    }

    @Override
    public CompletableFuture<Boolean> allowClusterPolicyOperationAsync(String cluster, String role, PolicyName policy,
                                                                       PolicyOperation operation,
                                                                       AuthenticationDataSource data) {
        return ask(role, Actions.policy("cluster_policy", policy, operation), Actions.cluster(cluster, null), "",
                data);
    }

    // --- permissions live in git, not in Pulsar's metadata ---

    /**
     * Pulsar's admin REST handlers pass a {@link RestException} through with its status; any other exception
     * became a 500 with a Java stack trace. 501: the server does not offer this, by design.
     */
    private <T> CompletableFuture<T> managedInGit() {
        return CompletableFuture.failedFuture(new RestException(Response.Status.NOT_IMPLEMENTED,
                managedInGitMessage(policyRepository)));
    }

    static String managedInGitMessage(String repository) {
        return "permissions are managed in the meshgate policy repository (" + repository
                + "), not through Pulsar: change the policy there; grant, revoke and permission listings"
                + " are disabled (use meshgate who-can or meshgate report to see who may do what)";
    }

    @Override
    public CompletableFuture<Void> grantPermissionAsync(List<GrantTopicPermissionOptions> options) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Void> revokePermissionAsync(List<RevokeTopicPermissionOptions> options) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Void> grantPermissionAsync(NamespaceName namespace, Set<AuthAction> actions, String role,
                                                        String authDataJson) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Void> grantSubscriptionPermissionAsync(NamespaceName namespace, String subscription,
                                                                    Set<String> roles, String authDataJson) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Void> revokeSubscriptionPermissionAsync(NamespaceName namespace, String subscription,
                                                                     String role, String authDataJson) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Void> grantPermissionAsync(TopicName topic, Set<AuthAction> actions, String role,
                                                        String authDataJson) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Void> revokePermissionAsync(NamespaceName namespace, String role) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Void> revokePermissionAsync(TopicName topic, String role) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Map<String, Set<AuthAction>>> getPermissionsAsync(TopicName topic) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Map<String, Set<AuthAction>>> getPermissionsAsync(NamespaceName namespace) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Map<String, Set<String>>> getSubscriptionPermissionsAsync(NamespaceName namespace) {
        return managedInGit();
    }

    @Override
    public CompletableFuture<Void> removePermissionsAsync(TopicName topic) {
        // Called when a topic is deleted: nothing to clean up, the policy repository is the source of truth.
        return CompletableFuture.completedFuture(null);
    }

    @Override
    public void close() {
        MeshgateRuntime.release(runtime);
        runtime = null;
    }
}
