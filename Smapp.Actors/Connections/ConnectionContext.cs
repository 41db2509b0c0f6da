using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Gateway;
using Smapp.Policy;
using Smapp.Netlink.Mptcp;
using static Smapp.Actors.Connections.ConnectionProtocol;
using static Smapp.Actors.Gateway.GatewayProtocol;

namespace Smapp.Actors.Connections;

public sealed partial class ConnectionActor
{
    /// <summary>What the policy sees of its connection actor; every call runs on the actor's own thread.</summary>
    private sealed class PolicyContext(ConnectionActor actor) : IConnectionContext
    {
        public ConnectionInfo Connection => actor._info;

        public IReadOnlyCollection<Subflow> Subflows => actor._subflows;

        public IReadOnlyCollection<LocalAddress> LocalAddresses => actor._locals;

        public IReadOnlyCollection<RemoteAddress> RemoteAddresses => actor._remotes;

        public DateTimeOffset Now => Akka.Actor.ActorBase.Context.System.Scheduler.Now;

        public Subflow OpenSubflow(LocalAddress local, Endpoint remote, bool backup = false)
        {
            var s = actor.NewSubflow(new Endpoint(local.Address, 0), remote, actor.LocalIdFor(local.Address), backup, SubflowPhase.Connecting);
            s.OpenedByUs = true;
            actor.Create(s);
            return s;
        }

        public void Reopen(Subflow subflow, TimeSpan delay)
        {
            if (subflow.Abandoned || subflow.Phase != SubflowPhase.Closed || actor.SubflowById(subflow.Id) is null)
            {
                return;
            }

            subflow.Phase = SubflowPhase.Pending;
            actor.ChildOf(subflow).Tell(new ReopenAfter(delay));
        }

        public void CloseSubflow(Subflow subflow)
        {
            if (subflow.Abandoned)
            {
                return;
            }

            subflow.Abandoned = true;
            switch (subflow.Phase)
            {
                case SubflowPhase.Established:
                    actor.Destroy(subflow);
                    break;
                case SubflowPhase.Connecting when subflow.Local.Port != 0:
                    actor.Destroy(subflow);
                    break;
                case SubflowPhase.Connecting:
                    // The create is in flight; the subflow is destroyed when the kernel reports it established.
                    break;
                default:
                    actor.Forget(subflow);
                    break;
            }
        }

        public void SetBackup(Subflow subflow, bool backup)
        {
            if (subflow.Phase != SubflowPhase.Established)
            {
                subflow.Backup = backup;
                return;
            }

            actor.Send(new GatewayProtocol.SetBackup(actor.NextCorrelation(), actor._token,
                new MptcpAddress(subflow.Local.Address, null, subflow.Local.Port),
                new MptcpAddress(subflow.Remote.Address, null, subflow.Remote.Port), backup), subflow.Id);
        }

        public void Announce(LocalAddress address, ushort? port = null) =>
            actor.Send(new GatewayProtocol.Announce(actor.NextCorrelation(), actor._token,
                new MptcpAddress(address.Address, actor.LocalIdFor(address.Address, port ?? 0), port)), null);

        public void Withdraw(LocalAddress address, ushort? port = null)
        {
            if (actor.KnownLocalId(address.Address, port ?? 0) is { } id && id != 0)
            {
                actor.Send(new Remove(actor.NextCorrelation(), actor._token, id, address.Address, port), null);
            }
        }

        public void StartTimer(string key, TimeSpan delay, bool repeat = false)
        {
            if (repeat)
            {
                actor.Timers.StartPeriodicTimer("policy:" + key, new PolicyTimer(key), delay);
            }
            else
            {
                actor.Timers.StartSingleTimer("policy:" + key, new PolicyTimer(key), delay);
            }
        }

        public void CancelTimer(string key) => actor.Timers.Cancel("policy:" + key);

        public void Log(string decision, string reason) =>
            actor._log.Info("connection {Token:x8} [{Policy}] {Decision}: {Reason}", actor._token, actor._choice.Name, decision, reason);
    }
}
