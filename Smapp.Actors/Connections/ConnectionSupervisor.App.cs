using Akka.Actor;
using Akka.Event;
using Smapp.Actors.Configuration;
using Smapp.Actors.Observing;
using Smapp.Policy;

namespace Smapp.Actors.Connections;

/// <summary>The application API's requests (<see cref="AppProtocol"/>), each handled in one supervisor turn.</summary>
public sealed partial class ConnectionSupervisor
{
    private void ReceiveAppRequests()
    {
        Receive<AppProtocol.SetPolicy>(r => Sender.Tell(SetPolicy(r)));
        Receive<AppProtocol.Block>(b => Sender.Tell(Block(b)));
    }

    /// <summary>The live connection whose initial pair or any subflow is local → remote, or why there is none to steer.</summary>
    private (ConnectionSlot? Slot, ConnectionCore? Core, string? Why) FindForApp(Endpoint local, Endpoint remote, uint? token)
    {
        foreach (var slot in _byToken.Values)
        {
            if (slot.Ended || slot.Core is not { } core || !core.Matches(local, remote))
            {
                continue;
            }

            if (!slot.Direct)
            {
                return (null, null, $"connection {local}->{remote} is not on the shared event loop; the application API needs it");
            }

            if (token is { } t && t != slot.Token)
            {
                return (null, null, $"connection {local}->{remote} is now {slot.Token:x8}, not the {t:x8} whose owner was checked; ask again");
            }

            if (slot.Rebuilding)
            {
                return (null, null, $"connection {local}->{remote} is being rebuilt after a policy failure; ask again");
            }

            return (slot, core, null);
        }

        return (null, null, $"no managed MPTCP connection {local}->{remote} (by its initial subflow or any subflow)");
    }

    private object SetPolicy(AppProtocol.SetPolicy r)
    {
        var (slot, core, why) = FindForApp(r.Local, r.Remote, r.Token);
        if (slot is null || core is null)
        {
            return new AppProtocol.Refused(why!);
        }

        PolicyChoice choice;
        try
        {
            choice = _selector.Custom(r.Policy, r.Parameters, r.Rule);
        }
        catch (ConfigError e)
        {
            return new AppProtocol.Refused(e.Message);
        }

        var from = slot.Choice.Name;
        slot.Choice = choice; // a restart rebuilds with the new policy
        if (choice.NeedsSamples)
        {
            _sampling[slot.Token] = choice.SampleInterval ?? _settings.SampleInterval ?? TimeSpan.FromMilliseconds(100);
        }
        else
        {
            _sampling.Remove(slot.Token);
        }

        UpdateDemand();
        try
        {
            core.ReplacePolicy(choice);
        }
        catch (Exception e)
        {
            slot.Fail(e);
            return new AppProtocol.Applied(slot.Token, choice.Name, $"{from} replaced by {choice.Name}, whose first callback threw ({e.Message}): the connection restarts with it");
        }

        _log.Info("connection {Token:x8}: policy {From} replaced by {Policy} ({Rule})", slot.Token, from, choice.Name, r.Rule);
        return new AppProtocol.Applied(slot.Token, choice.Name, $"{from} replaced by {choice.Name}");
    }

    private object Block(AppProtocol.Block b)
    {
        var (slot, core, why) = FindForApp(b.Local, b.Remote, b.Token);
        if (slot is null || core is null)
        {
            return new AppProtocol.Refused(why!);
        }

        try
        {
            var used = core.OnBlock(b.Bytes, b.Within);
            return new AppProtocol.Applied(slot.Token, slot.Choice.Name, used ?? $"recorded only: policy {slot.Choice.Name} does not use block notices");
        }
        catch (Exception e)
        {
            slot.Fail(e);
            return new AppProtocol.Refused($"policy {slot.Choice.Name} failed on the block notice ({e.Message}); the connection restarts");
        }
    }
}
