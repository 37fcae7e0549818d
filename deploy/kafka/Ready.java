// Readiness probe for deploy/kafka/kafka.sh: exits 0 once the broker at args[0] answers an
// AdminClient DescribeCluster with at least one live (unfenced) broker, 1 after args[1] ms.
// Compiled once by `kafka.sh fetch` against the fetched jars; no other dependencies.

import java.util.Properties;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;

public final class Ready {
    public static void main(String[] args) throws InterruptedException {
        String bootstrap = args[0];
        long deadline = System.currentTimeMillis() + Long.parseLong(args[1]);
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
        props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "3000");
        props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "500");
        String last = "no answer";
        try (Admin admin = Admin.create(props)) {
            while (System.currentTimeMillis() < deadline) {
                try {
                    int live = admin.describeCluster().nodes().get(3, TimeUnit.SECONDS).size();
                    if (live > 0) {
                        System.out.println("ready: " + live + " live broker(s)");
                        return;
                    }
                    last = "no live broker registered yet";
                } catch (Exception e) {
                    last = e.toString();
                }
                Thread.sleep(250);
            }
        }
        System.err.println("not ready: " + last);
        System.exit(1);
    }
}
