// Hands the build agent its inbound secret. Jenkins derives that secret from the agent's name
// and a key made at the controller's first boot (JENKINS_HOME/secrets), so it cannot be set in
// advance in .secrets; instead, at every boot, after JCasC has created the node, this script
// writes it into the volume shared with the `jenkins-agent` compose service (mounted read-only
// there), where jenkins/agent-entrypoint.sh waits for it. Runs from JENKINS_HOME/init.groovy.d
// (copied from /usr/share/jenkins/ref by the official image's entry point).
import java.nio.file.Files
import java.nio.file.Paths
import java.nio.file.attribute.PosixFilePermissions
import jenkins.model.Jenkins
import hudson.slaves.SlaveComputer

String name = System.getenv('MLSTACK_JENKINS_AGENT_NAME') ?: 'mlstack-agent'
String dir = System.getenv('MLSTACK_JENKINS_AGENT_SECRET_DIR') ?: '/run/jenkins-agent'
def computer = Jenkins.get().getComputer(name)
if (!(computer instanceof SlaveComputer)) {
    println("agent-secret: no inbound agent named ${name}: nothing written")
    return
}
def target = Paths.get(dir, 'secret')
def partial = Paths.get(dir, 'secret.tmp')
Files.write(partial, computer.jnlpMac.bytes)
Files.setPosixFilePermissions(partial, PosixFilePermissions.fromString('rw-------'))
Files.move(partial, target, java.nio.file.StandardCopyOption.REPLACE_EXISTING,
           java.nio.file.StandardCopyOption.ATOMIC_MOVE)
println("agent-secret: wrote the secret of agent ${name} to ${target}")
