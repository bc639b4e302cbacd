"""The training step the tests of mg.compile compile."""
import minigrad.nn.functional as F


def training_step(model, opt, loss_of=F.cross_entropy):
    """step(x, y): the loss of model(x) against y, zero_grad, backward, the optimizer's step."""
    def step(x, y):
        loss = loss_of(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step
